; pm_stack - the stack-size rules when an instruction's stack and its SS load disagree.
;
; The B bit of the SS descriptor picks SP or ESP for every implicit stack access (SDM vol. 3
; 3.4.5, "D/B flag"; vol. 1 6.2.3).  These checks cover the instructions where the stack
; that is read or written and the stack that SS holds afterwards can differ, or where the
; stack's size and the operand size differ: POP SS (the pop moves the pointer of the stack
; it read, SDM vol. 2 POP), MOV SS and LSS (the next instruction uses the new B), POP with
; an ESP-based memory operand (addressed with ESP as the pop left it), PUSHA/POPA, ENTER
; (the frame pointer is eSP of the operand size; the final stack pointer is checked against
; the limit) and LEAVE, IRET and RETF to an outer level (the frame is read through the
; inner stack's SP or ESP, the outer stack pointer is loaded by the outer B), interrupt and
; call gates with a stack switch (the frame is written through the inner stack's B; the
; old ESP pushed whole), and expand-down stacks at both ends of their range.  Each case
; runs with old and new B in the combinations that tell the rules apart: a pointer whose
; upper half is not zero, or a 16-bit pointer that wraps.
;
;   nasm -f bin -i tests/guests/ -o pm_stack.rom tests/guests/pm_stack.asm

%define GUEST_NAME "pm_stack"
%include "pm.inc"

STK_BASE        equ 0x40000                     ; every test stack segment starts here

SEL_S16         equ SEL_GUEST + 0x00            ; data, 64 KiB, B=0, DPL 0
SEL_S32         equ SEL_GUEST + 0x08            ; data, 4 GiB, B=1, DPL 0
SEL_ED16        equ SEL_GUEST + 0x10            ; expand-down, limit 0FFFh, B=0: 1000h-FFFFh
SEL_ED32        equ SEL_GUEST + 0x18            ; expand-down, limit FFFFh, B=1: 10000h-FFFFFFFFh
SEL_S16_3       equ SEL_GUEST + 0x20 | 3        ; data, 64 KiB, B=0, DPL 3
SEL_S32_3       equ SEL_GUEST + 0x28 | 3        ; data, 4 GiB, B=1, DPL 3
SEL_CALLG       equ SEL_GUEST + 0x30 | 3        ; 32-bit call gate, DPL 3, to cg_handler

VEC_INT         equ 0x40                        ; 32-bit interrupt gate, DPL 3, to ig_handler

; Scratch (flat addresses).
V_SAVED_ESP     equ GVARS + 0x00
V_ESP           equ GVARS + 0x04
V_EBP           equ GVARS + 0x08
V_SS            equ GVARS + 0x0C
V_F0            equ GVARS + 0x10                ; a gate handler's view of its frame
V_F1            equ GVARS + 0x14
V_F2            equ GVARS + 0x18
V_F3            equ GVARS + 0x1C
V_F4            equ GVARS + 0x20
V_PTR           equ GVARS + 0x28                ; a far pointer for LSS
V_ESP3          equ GVARS + 0x30
V_SS3           equ GVARS + 0x34
V_ESP3B         equ GVARS + 0x38

; Switch to stack segment %1 with ESP = %2 (no instruction between can be interrupted).
%macro STACK 2
        mov ax, %1
        mov ss, ax
        mov esp, %2
%endmacro

; Record ESP and EBP, then go back to the flat ring-0 stack.
%macro UNSTACK 0
        mov [V_ESP], esp
        mov [V_EBP], ebp
        mov ax, SEL_DATA32
        mov ss, ax
        mov esp, [V_SAVED_ESP]
%endmacro

; POP SS: %1 check, %2 old SS, %3 popped selector, %4 o16/o32, %5 ESP before, %6 the
; linear address of the stack top (the slot the pop reads), %7 ESP expected after.
%macro POPSS 7
        mov dword [%6], %3
        STACK %2, %5
        %4 pop ss
        UNSTACK
        mov eax, [V_ESP]
        CHECK_EAX %1, %7
%endmacro

; Go to ring 3 at %3 with SS:ESP = %1:%2 (IRETD from the flat ring-0 stack).
%macro RING3_ON 3
        push dword %1
        push dword %2
        push dword 2
        push dword SEL_CODE3
        push dword %3
        iretd
%endmacro

guest_main:
        mov [V_SAVED_ESP], esp
        mov ecx, VEC_INT
        mov eax, ig_handler
        mov dx, SEL_CODE32
        mov bx, 0xEE00                  ; present, DPL 3, 32-bit interrupt gate
        call set_idt

        ; ------------------------------------------------------------ POP SS
        ; The pop moves SP or ESP by the B bit of the stack it read; a 16-bit SP that
        ; wraps keeps the upper half of ESP.
        POPSS "pop-ss-o32-b16-to-b32", SEL_S16, SEL_S32, o32, 0x2FFFC, STK_BASE + 0xFFFC, 0x20000
        POPSS "pop-ss-o16-b32-to-b16", SEL_S32, SEL_S16, o16, 0x1FFFE, STK_BASE + 0x1FFFE, 0x20000
        POPSS "pop-ss-o32-b32-to-b16", SEL_S32, SEL_S16, o32, 0x1FFFC, STK_BASE + 0x1FFFC, 0x20000
        POPSS "pop-ss-o16-b16-to-b32", SEL_S16, SEL_S32, o16, 0x2FFFE, STK_BASE + 0xFFFE, 0x20000
        POPSS "pop-ss-o32-b16-to-b16", SEL_S16, SEL_S16, o32, 0x2FFFC, STK_BASE + 0xFFFC, 0x20000
        POPSS "pop-ss-o32-b32-to-b32", SEL_S32, SEL_S32, o32, 0x1FFFC, STK_BASE + 0x1FFFC, 0x20000

        ; ------------------------------------------------------------ MOV SS, LSS
        ; The instruction after the load uses the new B.
        STACK SEL_S32, 0x20000
        mov ax, SEL_S16
        mov ss, ax
        push eax
        UNSTACK
        mov eax, [V_ESP]
        CHECK_EAX "mov-ss-b32-to-b16-push", 0x2FFFC
        STACK SEL_S16, 0x20000
        mov ax, SEL_S32
        mov ss, ax
        push eax
        UNSTACK
        mov eax, [V_ESP]
        CHECK_EAX "mov-ss-b16-to-b32-push", 0x1FFFC
        mov dword [V_PTR], 0x20000
        mov word [V_PTR + 4], SEL_S16
        STACK SEL_S32, 0x5000
        lss esp, [V_PTR]                ; a 32-bit LSS loads all of ESP
        push eax
        UNSTACK
        mov eax, [V_ESP]
        CHECK_EAX "lss-o32-b16-push", 0x2FFFC
        mov word [V_PTR], 0x8000
        mov word [V_PTR + 2], SEL_S16
        STACK SEL_S32, 0x12340000
        o16 lss sp, [V_PTR]             ; a 16-bit LSS loads SP only
        UNSTACK
        mov eax, [V_ESP]
        CHECK_EAX "lss-o16-keeps-esp-high", 0x12348000

        ; ------------------------------------------------------------ POP r/m through ESP
        ; The destination is addressed with ESP as the pop left it: on a 16-bit stack SP
        ; wrapped from FFFCh to 0 and the upper half of ESP stayed.
        mov dword [STK_BASE + 0xFFFC], 0xCAFEBABE
        mov dword [0x50100], 0
        mov dword [0x60100], 0
        STACK SEL_S16, 0x5FFFC
        pop dword [ds:esp + 0x100]
        UNSTACK
        mov eax, [V_ESP]
        CHECK_EAX "pop-mem-esp-b16-esp", 0x50000
        mov eax, [0x50100]
        CHECK_EAX "pop-mem-esp-b16-address", 0xCAFEBABE
        mov eax, [0x60100]
        CHECK_EAX "pop-mem-esp-b16-not-unwrapped", 0
        mov dword [STK_BASE + 0x1FFFC], 0x600DF00D
        STACK SEL_S32, 0x1FFFC
        pop dword [esp]
        UNSTACK
        mov eax, [V_ESP]
        CHECK_EAX "pop-mem-esp-b32-esp", 0x20000
        mov eax, [STK_BASE + 0x20000]
        CHECK_EAX "pop-mem-esp-b32-address", 0x600DF00D

        ; ------------------------------------------------------------ PUSHA / POPA
        STACK SEL_S16, 0x20000
        o32 pusha                       ; SP 0000 -> FFE0, upper half kept
        UNSTACK
        mov eax, [V_ESP]
        CHECK_EAX "pusha-o32-b16-esp", 0x2FFE0
        mov eax, [STK_BASE + 0xFFEC]    ; the ESP slot: ESP before the instruction
        CHECK_EAX "pusha-o32-b16-pushed-esp", 0x20000
        mov dword [STK_BASE + 0xFFEC], 0xDEAD0000
        STACK SEL_S16, 0x2FFE0
        o32 popa
        UNSTACK
        mov eax, [V_ESP]
        CHECK_MASKED "popa-o32-b16-sp", 0xFFFF, 0x0000
        cmp dword [cpu_class], 3
        jne .not386
        ; The 80386 loads the upper half of ESP from the slot it otherwise skips.
        CHECK_EAX "popa-o32-b16-386-esp-high", 0xDEAD0000
.not386:
        STACK SEL_S32, 0x20000
        o16 pusha
        UNSTACK
        mov eax, [V_ESP]
        CHECK_EAX "pusha-o16-b32-esp", 0x1FFF0
        STACK SEL_S32, 0x1FFF0
        o16 popa
        UNSTACK
        mov eax, [V_ESP]
        CHECK_EAX "popa-o16-b32-esp", 0x20000

        ; ------------------------------------------------------------ ENTER / LEAVE
        ; 32-bit ENTER on a 16-bit stack: the frame pointer is all of ESP.
        mov ebp, 0x1FFEC
        STACK SEL_S16, 0x10000
        o32 enter 8, 0
        UNSTACK
        mov eax, [V_EBP]
        CHECK_EAX "enter-o32-b16-ebp", 0x1FFFC
        mov eax, [V_ESP]
        CHECK_EAX "enter-o32-b16-esp", 0x1FFF4
        ; 16-bit ENTER on a 32-bit stack: BP gets SP, the upper half of EBP stays.
        mov ebp, 0x12345678
        STACK SEL_S32, 0x20000
        o16 enter 4, 0
        UNSTACK
        mov eax, [V_EBP]
        CHECK_EAX "enter-o16-b32-ebp", 0x1234FFFE
        mov eax, [V_ESP]
        CHECK_EAX "enter-o16-b32-esp", 0x1FFFA
        ; Level 2 on a 16-bit stack: the display copy is read through BP.
        mov dword [STK_BASE + 0xFFDC], 0x11112222
        mov ebp, 0x1FFE0
        STACK SEL_S16, 0x10000
        o32 enter 0, 2
        UNSTACK
        mov eax, [V_EBP]
        CHECK_EAX "enter-o32-b16-level2-ebp", 0x1FFFC
        mov eax, [V_ESP]
        CHECK_EAX "enter-o32-b16-level2-esp", 0x1FFF4
        mov eax, [STK_BASE + 0xFFF8]
        CHECK_EAX "enter-o32-b16-level2-display", 0x11112222
        mov eax, [STK_BASE + 0xFFF4]
        CHECK_EAX "enter-o32-b16-level2-frame", 0x1FFFC
        ; The final stack pointer is checked against the limit: #SS(0), nothing changed.
        mov ebp, 0x55555555
        mov dword [V_ESP], 0
        TRY .enter_ss
        STACK SEL_ED16, 0x1108
.enter_insn:
        o16 enter 0x200, 0              ; SP would end at 0F06h, below the limit
        UNSTACK
.enter_ss:
        CHECK_FAULT "enter-final-sp-below-limit", 12, 0, .enter_insn
        mov eax, ebp
        CHECK_EAX "enter-fault-keeps-ebp", 0x55555555
        ; LEAVE on a 16-bit stack: SP <- BP, and the upper half of ESP stays.
        mov dword [STK_BASE + 0xFFF0], 0xAABBCCDD
        mov ebp, 0x5678FFF0
        STACK SEL_S16, 0x12340000
        o32 leave
        UNSTACK
        mov eax, [V_ESP]
        CHECK_EAX "leave-o32-b16-esp", 0x1234FFF4
        mov eax, [V_EBP]
        CHECK_EAX "leave-o32-b16-ebp", 0xAABBCCDD
        mov word [STK_BASE + 0x1FFF0], 0x7777
        mov ebp, 0x0001FFF0
        STACK SEL_S32, 0
        o16 leave
        UNSTACK
        mov eax, [V_ESP]
        CHECK_EAX "leave-o16-b32-esp", 0x1FFF2
        mov eax, [V_EBP]
        CHECK_EAX "leave-o16-b32-ebp", 0x17777

        ; ------------------------------------------------------------ IRET / RETF outwards
        ; From a 16-bit ring-0 stack whose ESP has a non-zero upper half: the frame is
        ; read at SS:SP.  To a 32-bit ring-3 stack: ESP is the popped dword.
        mov dword [STK_BASE + 0xFFEC], .r3_iret
        mov dword [STK_BASE + 0xFFF0], SEL_CODE3
        mov dword [STK_BASE + 0xFFF4], 2
        mov dword [STK_BASE + 0xFFF8], 0x00012340
        mov dword [STK_BASE + 0xFFFC], SEL_S32_3
        TRY .iret1
        STACK SEL_S16, 0xABCDFFEC
        iretd
.r3_iret:
        mov ax, SEL_DATA3
        mov ds, ax
        mov [V_ESP3], esp
        mov [V_SS3], ss
        push eax                        ; the outer stack is 32-bit
        mov [V_ESP3B], esp
        EXIT3
.iret1:
        CHECK_FAULT "iret-from-b16-inner", NO_FAULT, ANY, ANY
        mov eax, [V_ESP3]
        CHECK_EAX "iret-from-b16-inner-esp3", 0x00012340
        mov eax, [V_SS3]
        CHECK_MASKED "iret-from-b16-inner-ss3", 0xFFFF, SEL_S32_3
        mov eax, [V_ESP3B]
        CHECK_EAX "iret-to-b32-outer-push", 0x0001233C
        ; From a 32-bit ring-0 stack to a 16-bit ring-3 stack: SP is the popped value's
        ; low half, and ring 3 pushes through SP.
        mov ebx, [V_SAVED_ESP]
        sub ebx, 0x100
        mov dword [ebx], .r3_iret16
        mov dword [ebx + 4], SEL_CODE3
        mov dword [ebx + 8], 2
        mov dword [ebx + 12], 0x55550000
        mov dword [ebx + 16], SEL_S16_3
        TRY .iret2
        mov esp, ebx
        iretd
.r3_iret16:
        mov ax, SEL_DATA3
        mov ds, ax
        mov [V_ESP3], esp
        o16 push ax                     ; SP 0000 -> FFFE
        mov [V_ESP3B], esp
        EXIT3
.iret2:
        CHECK_FAULT "iret-to-b16-outer", NO_FAULT, ANY, ANY
        mov eax, [V_ESP3]
        CHECK_MASKED "iret-to-b16-outer-sp", 0xFFFF, 0x0000
        mov eax, [V_ESP3B]
        CHECK_MASKED "iret-to-b16-outer-push-wraps", 0xFFFF, 0xFFFE
        ; RETF imm16 from a 16-bit ring-0 stack to a 32-bit ring-3 stack: the
        ; parameters are released on both stacks, each by its own B.
        mov dword [STK_BASE + 0xFFE8], .r3_retf
        mov dword [STK_BASE + 0xFFEC], SEL_CODE3
        mov dword [STK_BASE + 0xFFF8], 0x00012340      ; above 8 bytes of parameters
        mov dword [STK_BASE + 0xFFFC], SEL_S32_3
        TRY .retf1
        STACK SEL_S16, 0x7777FFE8
        retf 8
.r3_retf:
        mov ax, SEL_DATA3
        mov ds, ax
        mov [V_ESP3], esp
        EXIT3
.retf1:
        CHECK_FAULT "retf-imm-from-b16-inner", NO_FAULT, ANY, ANY
        mov eax, [V_ESP3]
        CHECK_EAX "retf-imm-to-b32-outer-esp", 0x00012348

        ; ------------------------------------------------------------ gates with a stack switch
        ; An interrupt gate to a 16-bit inner stack: the frame is written through SP.
        mov word [TSS_BASE + TSS_SS0], SEL_S16
        mov dword [TSS_BASE + TSS_ESP0], 0x0000FF00
        TRY .int1
        RING3_ON SEL_S32_3, 0x00012340, .r3_int
.r3_int:
        int VEC_INT
.int1:
        CHECK_FAULT "int-gate-to-b16-inner", NO_FAULT, ANY, ANY
        mov eax, [V_ESP]
        CHECK_MASKED "int-gate-to-b16-inner-sp", 0xFFFF, 0xFF00 - 20
        mov eax, [V_F0]
        CHECK_EAX "int-gate-to-b16-inner-eip", .r3_int + 2
        mov eax, [V_F1]
        CHECK_MASKED "int-gate-to-b16-inner-cs", 0xFFFF, SEL_CODE3
        mov eax, [V_F3]
        CHECK_EAX "int-gate-to-b16-inner-old-esp", 0x00012340
        mov eax, [V_F4]
        CHECK_MASKED "int-gate-to-b16-inner-old-ss", 0xFFFF, SEL_S32_3
        ; From a 16-bit ring-3 stack through a 32-bit gate: the old ESP is pushed whole.
        mov word [TSS_BASE + TSS_SS0], SEL_DATA32
        mov dword [TSS_BASE + TSS_ESP0], STACK0_TOP
        TRY .int2
        RING3_ON SEL_S16_3, 0x0003FF00, .r3_int2
.r3_int2:
        mov esp, 0x0003FF00             ; the upper half is not zero
        int VEC_INT
.int2:
        CHECK_FAULT "int-gate-from-b16-outer", NO_FAULT, ANY, ANY
        mov eax, [V_ESP]
        CHECK_EAX "int-gate-from-b16-outer-esp0", STACK0_TOP - 20
        mov eax, [V_F3]
        CHECK_EAX "int-gate-from-b16-outer-old-esp", 0x0003FF00
        ; A call gate to a 16-bit inner stack.
        mov word [TSS_BASE + TSS_SS0], SEL_S16
        mov dword [TSS_BASE + TSS_ESP0], 0x0000FF00
        TRY .call1
        RING3_ON SEL_S32_3, 0x00012340, .r3_call
.r3_call:
        call SEL_CALLG:0
.call1:
        CHECK_FAULT "call-gate-to-b16-inner", NO_FAULT, ANY, ANY
        mov eax, [V_ESP]
        CHECK_MASKED "call-gate-to-b16-inner-sp", 0xFFFF, 0xFF00 - 16
        mov eax, [V_F0]
        CHECK_EAX "call-gate-to-b16-inner-eip", .r3_call + 7
        mov eax, [V_F2]
        CHECK_EAX "call-gate-to-b16-inner-old-esp", 0x00012340
        mov eax, [V_F3]
        CHECK_MASKED "call-gate-to-b16-inner-old-ss", 0xFFFF, SEL_S32_3
        mov word [TSS_BASE + TSS_SS0], SEL_DATA32
        mov dword [TSS_BASE + TSS_ESP0], STACK0_TOP
        TRY .call2
        RING3_ON SEL_S16_3, 0x0003FF00, .r3_call2
.r3_call2:
        mov esp, 0x0003FF00
        call SEL_CALLG:0
.call2:
        CHECK_FAULT "call-gate-from-b16-outer", NO_FAULT, ANY, ANY
        mov eax, [V_F2]
        CHECK_EAX "call-gate-from-b16-outer-old-esp", 0x0003FF00

        ; ------------------------------------------------------------ expand-down stacks
        ; 16-bit: valid offsets are 1000h..FFFFh.
        STACK SEL_ED16, 0x1002
        push ax                         ; the lowest valid word
        UNSTACK
        mov eax, [V_ESP]
        CHECK_EAX "ed16-push-to-limit", 0x1000
        STACK SEL_ED16, 0xFFFE
        pop ax                          ; the highest valid word; SP wraps to 0
        UNSTACK
        mov eax, [V_ESP]
        CHECK_EAX "ed16-pop-at-top-wraps", 0
        TRY .ed1
        STACK SEL_ED16, 0x8000
.ed1_insn:
        mov ax, [ss:0x0FFF]             ; one byte below the range
        UNSTACK
.ed1:
        CHECK_FAULT "ed16-below-limit", 12, 0, .ed1_insn
        TRY .ed2
        STACK SEL_ED16, 0x8000
.ed2_insn:
        mov ax, [ss:0xFFFF]             ; the second byte is beyond FFFFh (B=0)
        UNSTACK
.ed2:
        CHECK_FAULT "ed16-word-past-top", 12, 0, .ed2_insn
        TRY .ed3
        STACK SEL_ED16, 0x8000
        mov al, [ss:0xFFFF]
        UNSTACK
.ed3:
        CHECK_FAULT "ed16-last-byte", NO_FAULT, ANY, ANY
        ; 32-bit: valid offsets are 10000h..FFFFFFFFh; SP never wraps at 64 KiB.
        STACK SEL_ED32, 0x10004
        push eax
        UNSTACK
        mov eax, [V_ESP]
        CHECK_EAX "ed32-push-to-limit", 0x10000
        STACK SEL_ED32, 0
        push eax                        ; ESP wraps to FFFFFFFCh, inside the range
        UNSTACK
        mov eax, [V_ESP]
        CHECK_EAX "ed32-push-wraps-to-top", 0xFFFFFFFC
        TRY .ed4
        STACK SEL_ED32, 0x20000
.ed4_insn:
        mov eax, [ss:0xFFFE]            ; starts below the range
        UNSTACK
.ed4:
        CHECK_FAULT "ed32-below-limit", 12, 0, .ed4_insn
        TRY .ed5
        STACK SEL_ED32, 0x20000
        mov eax, [ss:0xFFFC0000]        ; far above 64 KiB: valid with B=1
        UNSTACK
.ed5:
        CHECK_FAULT "ed32-high-offset", NO_FAULT, ANY, ANY
        ret

; The gate handlers, at ring 0 on whatever stack the TSS gave: record SP/ESP as the handler
; found it and the frame the processor pushed (an interrupt gate: EIP CS EFLAGS ESP SS; a
; call gate without parameters: EIP CS ESP SS).
ig_handler:
        mov ecx, 5
        call record_frame
        jmp resume

cg_handler:
        mov ecx, 4
        call record_frame
        jmp resume

; ECX dwords of the caller's frame into V_F0.., read through SS with the stack's own width
; (SP on SEL_S16, ESP otherwise), and the caller's SP/ESP into V_ESP.
record_frame:
        mov ax, SEL_DATA32
        mov ds, ax
        lea eax, [esp + 4]
        mov [V_ESP], eax
        mov edi, V_F0
        mov eax, ss
        cmp ax, SEL_S16
        jne .wide
        movzx ebx, sp
        add bx, 4
.word:  mov eax, [ss:bx]
        mov [edi], eax
        add bx, 4
        add edi, 4
        loop .word
        ret
.wide:  lea ebx, [esp + 4]
.dword: mov eax, [ss:ebx]
        mov [edi], eax
        add ebx, 4
        add edi, 4
        loop .dword
        ret

        align 8
guest_gdt:
        DESC STK_BASE, 0xFFFF, 0x92, 0x0                ; SEL_S16
        DESC STK_BASE, 0xFFFFF, 0x92, 0xC               ; SEL_S32
        DESC STK_BASE, 0x0FFF, 0x96, 0x0                ; SEL_ED16
        DESC STK_BASE, 0xFFFF, 0x96, 0x4                ; SEL_ED32
        DESC STK_BASE, 0xFFFF, 0xF2, 0x0                ; SEL_S16_3
        DESC STK_BASE, 0xFFFFF, 0xF2, 0xC               ; SEL_S32_3
        GATE LIN(cg_handler), SEL_CODE32, 0xEC, 0       ; SEL_CALLG
guest_gdt_end:

        ROM_END
