; pm_rings - privilege levels: going out to ring 3 and back in to ring 0.
;
; Out: IRET and RETF to an outer level, which null the data segment registers whose
; descriptor DPL is below the new CPL (SDM vol. 2 IRET and RET, "RETURN-TO-OUTER-
; PRIVILEGE-LEVEL").  In: a 32-bit call gate that copies parameters onto the inner stack taken
; from the TSS (SDM vol. 3 5.8.5), an interrupt gate and a trap gate (IF cleared or kept,
; 6.12.1), and the checks on each (gate DPL against CPL).  Back: RETF n releases the
; parameters on both stacks, IRET restores EFLAGS.  At ring 3: the privileged instructions
; raise #GP(0) (5.9), CLI/STI/POPF follow IOPL, and IN/OUT consult the TSS I/O permission
; bitmap when CPL > IOPL (16.5).
;
;   nasm -f bin -i tests/guests/ -o pm_rings.rom tests/guests/pm_rings.asm

%define GUEST_NAME "pm_rings"
%include "pm.inc"

SEL_GATE2       equ SEL_GUEST + 0x00 | 3        ; 32-bit call gate, DPL 3, 2 parameters
SEL_GATE_DPL0   equ SEL_GUEST + 0x08            ; 32-bit call gate, DPL 0
SEL_GATE_NP     equ SEL_GUEST + 0x10 | 3        ; 32-bit call gate, DPL 3, not present
SEL_CODE0C      equ SEL_GUEST + 0x18            ; conforming code, DPL 0, flat
SEL_GATE_CONF   equ SEL_GUEST + 0x20 | 3        ; 32-bit call gate, DPL 3, to SEL_CODE0C

VEC_INTGATE     equ 0x40                        ; interrupt gate, DPL 3
VEC_TRAPGATE    equ 0x41                        ; trap gate, DPL 3
VEC_DPL0        equ 0x42                        ; interrupt gate, DPL 0 (the default)

; What ring 3 and the gate handlers saw.
R_CS3           equ GVARS + 0x00
R_SS3           equ GVARS + 0x04
R_DS3           equ GVARS + 0x08
R_ES3           equ GVARS + 0x0C
R_FS3           equ GVARS + 0x10
R_GS3           equ GVARS + 0x14
R_ESP3          equ GVARS + 0x18
R_EFL3          equ GVARS + 0x1C
R_ESP_BEFORE    equ GVARS + 0x20
R_ESP_AFTER     equ GVARS + 0x24
R_DS_AFTER      equ GVARS + 0x28
R_G_ESP         equ GVARS + 0x2C
R_G_SS          equ GVARS + 0x30
R_G_CS          equ GVARS + 0x34
R_G_RET_EIP     equ GVARS + 0x38
R_G_RET_CS      equ GVARS + 0x3C
R_G_P0          equ GVARS + 0x40
R_G_P1          equ GVARS + 0x44
R_G_OLD_ESP     equ GVARS + 0x48
R_G_OLD_SS      equ GVARS + 0x4C
R_I_EFL         equ GVARS + 0x50        ; EFLAGS inside the handler
R_I_ESP         equ GVARS + 0x54
R_I_EIP         equ GVARS + 0x58        ; the frame the processor pushed
R_I_CS          equ GVARS + 0x5C
R_I_FEFL        equ GVARS + 0x60
R_I_FESP        equ GVARS + 0x64
R_I_FSS         equ GVARS + 0x68
R_EFL_AFTER     equ GVARS + 0x6C
R_T_EFL         equ GVARS + 0x70
R_T_FEFL        equ GVARS + 0x74
R_POPF_EFL      equ GVARS + 0x78
R_C_ESP_BEFORE  equ GVARS + 0x7C        ; ring 3 calling conforming code: ESP before,
R_C1_CS         equ GVARS + 0x80        ; CS and ESP in the callee through the gate,
R_C1_ESP        equ GVARS + 0x84
R_C2_CS         equ GVARS + 0x88        ; and called directly
R_IRET3_EFL     equ GVARS + 0x8C

guest_main:
        mov edi, GVARS                  ; what ring 3 never wrote reads as all ones
        mov ecx, 0x94
        mov al, 0xFF
        rep stosb
        mov ecx, VEC_INTGATE
        mov eax, int_gate_handler
        mov dx, SEL_CODE32
        mov bx, 0xEE00                  ; present, DPL 3, 32-bit interrupt gate
        call set_idt
        mov ecx, VEC_TRAPGATE
        mov eax, trap_gate_handler
        mov bx, 0xEF00                  ; present, DPL 3, 32-bit trap gate
        call set_idt

        ; ------------------------------------------------------------ IRET outwards
        ; DS and FS hold DPL 0 data: nulled.  ES holds DPL 3 data and GS conforming
        ; code: kept.
        mov ax, SEL_DATA3
        mov es, ax
        mov ax, SEL_CODE0C
        mov gs, ax
        TRY .r1
        RING3 2, .ring3_iret
.ring3_iret:
        mov [es:R_CS3], cs
        mov [es:R_SS3], ss
        mov [es:R_DS3], ds
        mov [es:R_ES3], es
        mov [es:R_FS3], fs
        mov [es:R_GS3], gs
        mov [es:R_ESP3], esp
        pushfd
        pop dword [es:R_EFL3]
        EXIT3
.r1:    CHECK_FAULT "iret-to-ring3", NO_FAULT, ANY, ANY
        movzx eax, word [R_CS3]
        CHECK_EAX "iret-to-ring3-cs", SEL_CODE3
        movzx eax, word [R_SS3]
        CHECK_EAX "iret-to-ring3-ss", SEL_DATA3
        mov eax, [R_ESP3]
        CHECK_EAX "iret-to-ring3-esp", STACK3_TOP
        movzx eax, word [R_DS3]
        CHECK_EAX "iret-nulls-ds-dpl0", 0
        movzx eax, word [R_FS3]
        CHECK_EAX "iret-nulls-fs-dpl0", 0
        movzx eax, word [R_ES3]
        CHECK_EAX "iret-keeps-es-dpl3", SEL_DATA3
        movzx eax, word [R_GS3]
        CHECK_EAX "iret-keeps-gs-conforming", SEL_CODE0C

        ; ------------------------------------------------------------ RETF outwards
        mov dword [R_DS3], 0xFFFF
        mov dword [R_CS3], 0
        mov ax, SEL_DATA3
        mov es, ax
        TRY .r2
        push dword SEL_DATA3
        push dword STACK3_TOP
        push dword SEL_CODE3
        push dword .ring3_retf
        retf
.ring3_retf:
        mov [es:R_CS3], cs
        mov [es:R_DS3], ds
        EXIT3
.r2:    CHECK_FAULT "retf-to-ring3", NO_FAULT, ANY, ANY
        movzx eax, word [R_CS3]
        CHECK_EAX "retf-to-ring3-cs", SEL_CODE3
        movzx eax, word [R_DS3]
        CHECK_EAX "retf-nulls-ds-dpl0", 0

        ; ------------------------------------------------------------ call gate
        TRY .r3
        RING3 2, .ring3_call
.ring3_call:
        mov ax, SEL_DATA3
        mov ds, ax
        mov es, ax
        mov [R_ESP_BEFORE], esp
        push dword 0x11111111
        push dword 0x22222222
        push dword 0x33333333
        call SEL_GATE2:0xDEAD           ; the offset of a call through a gate is ignored
.gate_back:
        mov [es:R_ESP_AFTER], esp
        mov [es:R_DS_AFTER], ds
        EXIT3
.r3:    CHECK_FAULT "call-gate-round-trip", NO_FAULT, ANY, ANY
        mov eax, [R_G_CS]
        CHECK_MASKED "call-gate-cs", 0xFFFF, SEL_CODE32
        mov eax, [R_G_SS]
        CHECK_MASKED "call-gate-ss-from-tss", 0xFFFF, SEL_DATA32
        mov eax, [R_G_ESP]
        CHECK_EAX "call-gate-esp-from-tss", STACK0_TOP - 6 * 4
        mov eax, [R_G_P0]
        CHECK_EAX "call-gate-param-0", 0x33333333
        mov eax, [R_G_P1]
        CHECK_EAX "call-gate-param-1", 0x22222222
        mov eax, [R_G_OLD_SS]
        CHECK_MASKED "call-gate-pushed-ss", 0xFFFF, SEL_DATA3
        mov eax, [R_ESP_BEFORE]
        sub eax, 12
        sub eax, [R_G_OLD_ESP]
        CHECK_EAX "call-gate-pushed-esp", 0
        mov eax, [R_G_RET_CS]
        CHECK_MASKED "call-gate-pushed-cs", 0xFFFF, SEL_CODE3
        mov eax, [R_G_RET_EIP]
        CHECK_EAX "call-gate-pushed-eip", .gate_back
        mov eax, [R_ESP_BEFORE]
        sub eax, 4                      ; RETF 8 left the first of the three pushes
        sub eax, [R_ESP_AFTER]
        CHECK_EAX "retf-n-releases-outer-params", 0
        movzx eax, word [R_DS_AFTER]
        CHECK_EAX "retf-n-nulls-ds-dpl0", 0
        RING3_EXPECT "call-gate-dpl0-from-ring3", 13, SEL_GATE_DPL0, 2, call SEL_GATE_DPL0:0
        RING3_EXPECT "call-gate-not-present", 11, SEL_GATE_NP & ~3, 2, call SEL_GATE_NP:0
        ; Conforming code runs at the caller's CPL: a gate to it switches no stack, and a
        ; far CALL straight to it is allowed; straight to ring-0 non-conforming code it is not.
        TRY .r3c
        RING3 2, .ring3_conforming
.ring3_conforming:
        mov [ss:R_C_ESP_BEFORE], esp
        call SEL_GATE_CONF:0
        mov [ss:R_C2_CS], esp           ; (overwritten by the callee below)
        call SEL_CODE0C:conforming_direct
        EXIT3
.r3c:   CHECK_FAULT "conforming-calls-round-trip", NO_FAULT, ANY, ANY
        mov eax, [R_C1_CS]
        CHECK_MASKED "call-gate-conforming-keeps-cpl3", 0xFFFF, SEL_CODE0C | 3
        mov eax, [R_C_ESP_BEFORE]
        sub eax, 8                      ; CS and EIP only: no stack switch
        sub eax, [R_C1_ESP]
        CHECK_EAX "call-gate-conforming-same-stack", 0
        mov eax, [R_C2_CS]
        CHECK_MASKED "call-far-conforming-keeps-cpl3", 0xFFFF, SEL_CODE0C | 3
        RING3_EXPECT "call-far-ring0-code-from-ring3", 13, SEL_CODE32, 2, call SEL_CODE32:conforming_direct

        ; ------------------------------------------------------------ interrupt and trap gates
        TRY .r4
        RING3 FL_IF | FL_NT | 2, .ring3_int
.ring3_int:
        int VEC_INTGATE
.int_back:
        pushfd
        pop dword [es:R_EFL_AFTER]      ; ES: the handler loaded SEL_DATA3
        EXIT3
.r4:    CHECK_FAULT "int-gate-round-trip", NO_FAULT, ANY, ANY
        mov eax, [R_I_EFL]
        CHECK_MASKED "int-gate-clears-if", FL_IF, 0
        mov eax, [R_I_EFL]
        CHECK_MASKED "int-gate-clears-nt", FL_NT, 0
        mov eax, [R_I_ESP]
        CHECK_EAX "int-gate-esp-from-tss", STACK0_TOP - 5 * 4
        mov eax, [R_I_EIP]
        CHECK_EAX "int-gate-pushed-eip", .int_back
        mov eax, [R_I_CS]
        CHECK_MASKED "int-gate-pushed-cs", 0xFFFF, SEL_CODE3
        mov eax, [R_I_FEFL]
        CHECK_MASKED "int-gate-pushed-eflags", FL_IF | FL_NT, FL_IF | FL_NT
        mov eax, [R_I_FESP]
        CHECK_EAX "int-gate-pushed-esp", STACK3_TOP
        mov eax, [R_I_FSS]
        CHECK_MASKED "int-gate-pushed-ss", 0xFFFF, SEL_DATA3
        mov eax, [R_EFL_AFTER]
        CHECK_MASKED "iret-restores-if-nt", FL_IF | FL_NT, FL_IF | FL_NT
        TRY .r5
        RING3 FL_IF | 2, .ring3_trap
.ring3_trap:
        int VEC_TRAPGATE
        EXIT3
.r5:    CHECK_FAULT "trap-gate-round-trip", NO_FAULT, ANY, ANY
        mov eax, [R_T_EFL]
        CHECK_MASKED "trap-gate-keeps-if", FL_IF, FL_IF
        mov eax, [R_T_FEFL]
        CHECK_MASKED "trap-gate-pushed-eflags", FL_IF, FL_IF
        RING3_EXPECT "int-dpl0-gate-from-ring3", 13, VEC_DPL0 * 8 + 2, 2, int VEC_DPL0
        RING3_EXPECT "int3-dpl0-gate-from-ring3", 13, 3 * 8 + 2, 2, int3
        RING3_EXPECT "ud-at-ring3-through-dpl0-gate", 6, 0, 2, ud2
        mov eax, [fault_cs]
        CHECK_MASKED "ud-at-ring3-pushed-cs", 0xFFFF, SEL_CODE3

        ; ------------------------------------------------------------ privileged instructions
        RING3_EXPECT "cli-ring3-iopl0", 13, 0, 2, cli
        mov eax, [fault_ss]
        CHECK_MASKED "fault-from-ring3-pushed-ss", 0xFFFF, SEL_DATA3
        mov eax, [fault_esp]
        CHECK_EAX "fault-from-ring3-pushed-esp", STACK3_TOP
        mov eax, [fault_frame]
        CHECK_EAX "fault-from-ring3-esp0", STACK0_TOP - 6 * 4
        RING3_EXPECT "sti-ring3-iopl0", 13, 0, 2, sti
        RING3_OK "cli-ring3-iopl3", FL_IOPL3 | 2, cli
        RING3_OK "sti-ring3-iopl3", FL_IOPL3 | 2, sti
        RING3_EXPECT "hlt-ring3", 13, 0, FL_IOPL3 | 2, hlt
        RING3_EXPECT "mov-cr0-write-ring3", 13, 0, 2, mov cr0, eax
        RING3_EXPECT "mov-cr0-read-ring3", 13, 0, 2, mov eax, cr0
        RING3_EXPECT "mov-cr3-write-ring3", 13, 0, 2, mov cr3, eax
        RING3_EXPECT "mov-dr7-write-ring3", 13, 0, 2, mov dr7, eax
        RING3_EXPECT "lgdt-ring3", 13, 0, 2, lgdt [ss:GVARS + 0x100]
        RING3_EXPECT "lidt-ring3", 13, 0, 2, lidt [ss:GVARS + 0x100]
        RING3_EXPECT "lldt-ring3", 13, 0, 2, lldt ax
        RING3_EXPECT "ltr-ring3", 13, 0, 2, ltr ax
        RING3_EXPECT "lmsw-ring3", 13, 0, 2, lmsw ax
        RING3_EXPECT "clts-ring3", 13, 0, 2, clts
        RING3_OK "smsw-ring3", 2, smsw ax
        RING3_OK "sgdt-ring3", 2, sgdt [ss:GVARS + 0x100]
        TRY .r7
        RING3 2, iret_inwards
.r7:    CHECK_FAULT "iret-to-ring0-from-ring3", 13, SEL_CODE32, iret_inwards.iret

        ; POPF at CPL 3 with IOPL 0 changes neither IF nor IOPL, and does not fault.
        TRY .r6
        RING3 2, .ring3_popf
.ring3_popf:
        push dword FL_IF | FL_IOPL3 | FL_CF | 2
        popfd
        pushfd
        pop eax
        mov [ss:R_POPF_EFL], eax
        EXIT3
.r6:    CHECK_FAULT "popf-ring3-no-fault", NO_FAULT, ANY, ANY
        mov eax, [R_POPF_EFL]
        CHECK_MASKED "popf-ring3-if-unchanged", FL_IF, 0
        mov eax, [R_POPF_EFL]
        CHECK_MASKED "popf-ring3-iopl-unchanged", FL_IOPL3, 0
        mov eax, [R_POPF_EFL]
        CHECK_MASKED "popf-ring3-cf-changed", FL_CF, FL_CF
        ; IRET within ring 3 with IOPL 0 changes neither IF nor IOPL either.
        TRY .r8
        RING3 2, .ring3_iret_same
.ring3_iret_same:
        push dword FL_IF | FL_IOPL3 | FL_CF | 2
        push dword SEL_CODE3
        push dword .ring3_after_iret
        iretd
.ring3_after_iret:
        pushfd
        pop dword [ss:R_IRET3_EFL]
        EXIT3
.r8:    CHECK_FAULT "iret-ring3-no-fault", NO_FAULT, ANY, ANY
        mov eax, [R_IRET3_EFL]
        CHECK_MASKED "iret-ring3-if-iopl-unchanged", FL_IF | FL_IOPL3 | FL_CF, FL_CF

        ; ------------------------------------------------------------ I/O permission bitmap
        ; Ports 0x80 and 0x3FF allowed (0x3FF is the last port the map covers: the check
        ; reads two bytes, the second being the closing 0xFF inside the TSS limit).
        and byte [TSS_BASE + IOMAP_OFF + 0x80 / 8], ~(1 << (0x80 % 8))
        and byte [TSS_BASE + IOMAP_OFF + 0x3FF / 8], ~(1 << (0x3FF % 8))
        RING3_OK "io-bitmap-allowed-in", 2, in al, 0x80
        RING3_OK "io-bitmap-allowed-out", 2, out 0x80, al
        RING3_EXPECT "io-bitmap-denied-in", 13, 0, 2, in al, 0x81
        RING3_EXPECT "io-bitmap-denied-out", 13, 0, 2, out 0x81, al
        RING3_EXPECT "io-bitmap-word-half-denied", 13, 0, 2, in ax, 0x80
        mov edx, 0x3FF
        RING3_OK "io-bitmap-last-port", 2, in al, dx
        mov edx, 0x400
        RING3_EXPECT "io-beyond-tss-limit", 13, 0, 2, in al, dx
        RING3_OK "io-iopl3-ignores-bitmap", FL_IOPL3 | 2, in al, 0x81
        ret

; Ring 3: IRET to ring 0 (return CS RPL < CPL) -> #GP(return CS).
iret_inwards:
        push dword 2
        push dword SEL_CODE32
        push dword .nowhere
.iret:  iretd
.nowhere:
        jmp .nowhere

; Conforming ring-0 code called from ring 3, through SEL_GATE_CONF or directly.
conforming_gate:
        mov [ss:R_C1_ESP], esp
        mov [ss:R_C1_CS], cs
        retf
conforming_direct:
        mov [ss:R_C2_CS], cs
        retf

; The 32-bit call gate with 2 parameters: record the inner stack and return with RETF 8.
gate_params:
        mov [ss:R_G_ESP], esp
        mov [ss:R_G_SS], ss
        mov [ss:R_G_CS], cs
        mov eax, [esp]
        mov [ss:R_G_RET_EIP], eax
        mov eax, [esp + 4]
        mov [ss:R_G_RET_CS], eax
        mov eax, [esp + 8]
        mov [ss:R_G_P0], eax
        mov eax, [esp + 12]
        mov [ss:R_G_P1], eax
        mov eax, [esp + 16]
        mov [ss:R_G_OLD_ESP], eax
        mov eax, [esp + 20]
        mov [ss:R_G_OLD_SS], eax
        mov ax, SEL_DATA32              ; DPL 0: RETF to ring 3 must null it
        mov ds, ax
        retf 8

int_gate_handler:
        mov [ss:R_I_ESP], esp
        pushfd
        pop dword [ss:R_I_EFL]
        mov eax, [esp]
        mov [ss:R_I_EIP], eax
        mov eax, [esp + 4]
        mov [ss:R_I_CS], eax
        mov eax, [esp + 8]
        mov [ss:R_I_FEFL], eax
        mov eax, [esp + 12]
        mov [ss:R_I_FESP], eax
        mov eax, [esp + 16]
        mov [ss:R_I_FSS], eax
        mov ax, SEL_DATA3               ; for ring 3 to store with after the IRET
        mov es, ax
        iretd

trap_gate_handler:
        pushfd
        pop dword [ss:R_T_EFL]
        mov eax, [esp + 8]
        mov [ss:R_T_FEFL], eax
        iretd

guest_gdt:
        GATE LIN(gate_params), SEL_CODE32, 0xEC, 2      ; SEL_GATE2
        GATE LIN(gate_params), SEL_CODE32, 0x8C, 0      ; SEL_GATE_DPL0
        GATE LIN(gate_params), SEL_CODE32, 0x6C, 0      ; SEL_GATE_NP
        DESC 0, 0xFFFFF, 0x9E, 0xC                      ; SEL_CODE0C
        GATE LIN(conforming_gate), SEL_CODE0C, 0xEC, 0  ; SEL_GATE_CONF
guest_gdt_end:

        ROM_END
