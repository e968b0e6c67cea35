; pm_v86 - virtual-8086 mode under a small ring-0 monitor.
;
; Ring 0 enters V86 mode with an IRETD whose EFLAGS image has VM set (SDM vol. 3 20.2.5);
; the V86 code is real-mode code from the ROM (CS = F000) with its stack and data in RAM.
; With IOPL < 3, CLI, STI, PUSHF, POPF, INT n and IRET raise #GP(0) (20.2.7); the monitor
; (the #GP handler) emulates them with a virtual IF, INT n through the real-mode IVT at 0
; (20.3.1.1, "method 2"), and HLT ends the run.  With IOPL = 3 those instructions run
; natively, POPF still cannot change IOPL, and INT n goes through the IDT to a ring-0
; interrupt gate (DPL 3), which receives GS, FS, DS, ES on its stack and null data segment
; registers (6.12.1, 20.3.1.1), and returns with IRETD; a DPL 0 gate gives #GP with the
; IDT error code.  IN/OUT always consult the TSS I/O permission bitmap in V86 mode, whatever
; IOPL is (20.2.8.1).
;
;   nasm -f bin -i tests/guests/ -o pm_v86.rom tests/guests/pm_v86.asm

%define GUEST_NAME "pm_v86"
%include "pm.inc"

V86_SS          equ 0x3000              ; stack: linear 0x30000-0x3FFFF
V86_SP          equ 0xFFFE
V86_DS          equ 0x4000              ; data: linear 0x40000
V86_FS          equ 0x5000
V86_GS          equ 0x6000
V86_DATA        equ V86_DS << 4

VEC_RM          equ 0x21                ; emulated by the monitor through the IVT
VEC_GATE3       equ 0x22                ; interrupt gate, DPL 3
VEC_GATE0       equ 0x23                ; interrupt gate, DPL 0

; Offsets in the V86 data segment.
V_CS            equ 0x00
V_SS            equ 0x02
V_DS            equ 0x04
V_MARK          equ 0x06
V_SUM           equ 0x08
V_ROL           equ 0x0A                ; dword
V_INT_AX        equ 0x0E
V_INT_CS        equ 0x10
V_PUSHF         equ 0x12
V_PUSHF2        equ 0x14
V_PUSHF3        equ 0x16
V_POPF3         equ 0x18
V_AFTER22       equ 0x1A
V_AFTER23       equ 0x1C
V_AFTER_IN80    equ 0x1E
V_AFTER_IN81    equ 0x20
V_END           equ 0x40

; The monitor's record.
R_MON_GP        equ GVARS + 0x00        ; #GPs from V86 mode
R_MON_INT       equ GVARS + 0x04
R_MON_IRET      equ GVARS + 0x08
R_MON_CLI       equ GVARS + 0x0C
R_MON_STI       equ GVARS + 0x10
R_MON_PUSHF     equ GVARS + 0x14
R_MON_POPF      equ GVARS + 0x18
R_MON_HLT       equ GVARS + 0x1C
R_MON_IO        equ GVARS + 0x20
R_MON_IO_PORT   equ GVARS + 0x24
R_MON_INT_ERR   equ GVARS + 0x28        ; error code of an INT the monitor skipped
R_VIF           equ GVARS + 0x2C        ; the virtual IF
R_MON_END       equ GVARS + 0x30
R_F_DS_IN       equ GVARS + 0x40        ; the first #GP: DS in the handler, its ESP,
R_F_ESP_IN      equ GVARS + 0x44        ; and the 10 dwords of the frame
R_F_FRAME       equ GVARS + 0x48
R_G_DS_IN       equ GVARS + 0x80        ; INT 22h through the IDT: DS, FS, GS, ESP in the
R_G_FS_IN       equ GVARS + 0x84        ; handler and the 9 dwords of the frame
R_G_GS_IN       equ GVARS + 0x88
R_G_ESP_IN      equ GVARS + 0x8C
R_G_FRAME       equ GVARS + 0x90

; Run the V86 code at F000:OFF(%2) with EFLAGS %1 (VM added) until it executes HLT.
%macro V86_RUN 2
        mov edi, R_MON_GP
        mov ecx, (R_MON_END - R_MON_GP) / 4
        xor eax, eax
        rep stosd
        mov edi, V86_DATA
        mov ecx, V_END
        mov al, 0xFF
        rep stosb
        TRY %%back
        push dword V86_GS
        push dword V86_FS
        push dword V86_DS
        push dword V86_DS
        push dword V86_SS
        push dword V86_SP
        push dword FL_VM | (%1)
        push dword 0xF000
        push dword OFF(%2)
        iretd
%%back:
%endmacro

guest_main:
        mov ecx, 13
        mov eax, v86_monitor
        mov dx, SEL_CODE32
        mov bx, 0x8E00
        call set_idt
        mov ecx, VEC_GATE3
        mov eax, v86_gate_handler
        mov bx, 0xEE00                  ; interrupt gate, DPL 3
        call set_idt
        mov word [VEC_RM * 4], OFF(v86_int21)
        mov word [VEC_RM * 4 + 2], 0xF000
        and byte [TSS_BASE + IOMAP_OFF + 0x80 / 8], ~(1 << (0x80 % 8))

        ; ------------------------------------------------------------ IOPL 0
        V86_RUN 2, v86_prog1
        CHECK_FAULT "v86-run-iopl0", NO_FAULT, ANY, ANY
        movzx eax, word [V86_DATA + V_CS]
        CHECK_EAX "v86-cs", 0xF000
        movzx eax, word [V86_DATA + V_SS]
        CHECK_EAX "v86-ss", V86_SS
        movzx eax, word [V86_DATA + V_DS]
        CHECK_EAX "v86-ds", V86_DS
        movzx eax, word [V86_DATA + V_MARK]
        CHECK_EAX "v86-segment-base-x16", 0x1234
        movzx eax, word [V86_DATA + V_SUM]
        CHECK_EAX "v86-loop-sum", 5050
        mov eax, [V86_DATA + V_ROL]
        CHECK_EAX "v86-32-bit-operand", 0x34567812
        ; The frame of the first #GP (the INT 21h).
        mov eax, [R_F_FRAME + 0]
        CHECK_MASKED "v86-gp-error-code", 0xFFFF, 0
        mov eax, [R_F_FRAME + 4]
        CHECK_EAX "v86-gp-pushed-eip", OFF(v86_prog1.int)
        mov eax, [R_F_FRAME + 8]
        CHECK_MASKED "v86-gp-pushed-cs", 0xFFFF, 0xF000
        mov eax, [R_F_FRAME + 12]
        CHECK_MASKED "v86-gp-pushed-eflags-vm", FL_VM | FL_IOPL3, FL_VM
        mov eax, [R_F_FRAME + 16]
        CHECK_EAX "v86-gp-pushed-esp", V86_SP
        mov eax, [R_F_FRAME + 20]
        CHECK_MASKED "v86-gp-pushed-ss", 0xFFFF, V86_SS
        mov eax, [R_F_FRAME + 24]
        CHECK_MASKED "v86-gp-pushed-es", 0xFFFF, V86_DS
        mov eax, [R_F_FRAME + 28]
        CHECK_MASKED "v86-gp-pushed-ds", 0xFFFF, V86_DS
        mov eax, [R_F_FRAME + 32]
        CHECK_MASKED "v86-gp-pushed-fs", 0xFFFF, V86_FS
        mov eax, [R_F_FRAME + 36]
        CHECK_MASKED "v86-gp-pushed-gs", 0xFFFF, V86_GS
        mov eax, [R_F_DS_IN]
        CHECK_MASKED "v86-gp-handler-ds-null", 0xFFFF, 0
        mov eax, [R_F_ESP_IN]
        CHECK_EAX "v86-gp-stack-from-tss", STACK0_TOP - 10 * 4
        ; The monitor's emulation.
        movzx eax, word [V86_DATA + V_INT_AX]
        CHECK_EAX "v86-int-emulated", 21
        movzx eax, word [V86_DATA + V_INT_CS]
        CHECK_EAX "v86-int-handler-cs", 0xF000
        mov eax, [R_MON_INT]
        CHECK_EAX "v86-iopl0-int-traps", 1
        mov eax, [R_MON_IRET]
        CHECK_EAX "v86-iopl0-iret-traps", 1
        mov eax, [R_MON_CLI]
        CHECK_EAX "v86-iopl0-cli-traps", 1
        mov eax, [R_MON_STI]
        CHECK_EAX "v86-iopl0-sti-traps", 1
        mov eax, [R_MON_PUSHF]
        CHECK_EAX "v86-iopl0-pushf-traps", 2
        mov eax, [R_MON_POPF]
        CHECK_EAX "v86-iopl0-popf-traps", 1
        mov eax, [R_MON_IO]
        CHECK_EAX "v86-iopl0-allowed-port-no-trap", 0
        mov eax, [R_MON_GP]
        CHECK_EAX "v86-iopl0-gp-count", 8       ; the seven above and HLT
        movzx eax, word [V86_DATA + V_PUSHF]
        CHECK_MASKED "v86-pushf-virtual-if-set", FL_IF, FL_IF
        movzx eax, word [V86_DATA + V_PUSHF2]
        CHECK_MASKED "v86-pushf-virtual-if-clear", FL_IF, 0

        ; ------------------------------------------------------------ IOPL 3
        V86_RUN FL_IOPL3 | 2, v86_prog2
        CHECK_FAULT "v86-run-iopl3", NO_FAULT, ANY, ANY
        mov eax, [R_MON_CLI]
        add eax, [R_MON_STI]
        add eax, [R_MON_PUSHF]
        add eax, [R_MON_POPF]
        add eax, [R_MON_IRET]
        CHECK_EAX "v86-iopl3-no-traps", 0
        movzx eax, word [V86_DATA + V_PUSHF3]
        CHECK_MASKED "v86-iopl3-pushf-shows-iopl", FL_IOPL3, FL_IOPL3
        movzx eax, word [V86_DATA + V_POPF3]
        CHECK_MASKED "v86-iopl3-popf-keeps-iopl", FL_IOPL3, FL_IOPL3
        movzx eax, word [V86_DATA + V_AFTER22]
        CHECK_EAX "v86-int-through-idt-returns", 1
        mov eax, [R_G_FRAME + 0]
        CHECK_EAX "v86-int-idt-pushed-eip", OFF(v86_prog2.int22) + 2
        mov eax, [R_G_FRAME + 4]
        CHECK_MASKED "v86-int-idt-pushed-cs", 0xFFFF, 0xF000
        mov eax, [R_G_FRAME + 8]
        CHECK_MASKED "v86-int-idt-pushed-eflags", FL_VM | FL_IOPL3, FL_VM | FL_IOPL3
        mov eax, [R_G_FRAME + 12]
        CHECK_EAX "v86-int-idt-pushed-esp", V86_SP
        mov eax, [R_G_FRAME + 16]
        CHECK_MASKED "v86-int-idt-pushed-ss", 0xFFFF, V86_SS
        mov eax, [R_G_FRAME + 24]
        CHECK_MASKED "v86-int-idt-pushed-ds", 0xFFFF, V86_DS
        mov eax, [R_G_FRAME + 32]
        CHECK_MASKED "v86-int-idt-pushed-gs", 0xFFFF, V86_GS
        mov eax, [R_G_DS_IN]
        CHECK_MASKED "v86-int-idt-ds-null", 0xFFFF, 0
        mov eax, [R_G_FS_IN]
        CHECK_MASKED "v86-int-idt-fs-null", 0xFFFF, 0
        mov eax, [R_G_GS_IN]
        CHECK_MASKED "v86-int-idt-gs-null", 0xFFFF, 0
        mov eax, [R_G_ESP_IN]
        CHECK_EAX "v86-int-idt-stack-from-tss", STACK0_TOP - 9 * 4
        mov eax, [R_MON_INT_ERR]
        CHECK_MASKED "v86-int-dpl0-gate-gp", 0xFFFF, VEC_GATE0 * 8 + 2
        movzx eax, word [V86_DATA + V_AFTER_IN80]
        CHECK_EAX "v86-io-bitmap-allowed", 1
        mov eax, [R_MON_IO]
        CHECK_EAX "v86-io-bitmap-denied-iopl3", 1
        mov eax, [R_MON_IO_PORT]
        CHECK_EAX "v86-io-bitmap-denied-port", 0x81
        movzx eax, word [V86_DATA + V_AFTER_IN81]
        CHECK_EAX "v86-io-skipped-by-monitor", 1
        ret

; ---------------------------------------------------------------------------- V86 code
        bits 16
; IOPL 0: real-mode work, then every IOPL-sensitive instruction once (PUSHF twice).
v86_prog1:
        mov [V_CS], cs
        mov [V_SS], ss
        mov [V_DS], ds
        mov word [V_MARK], 0x1234
        xor ax, ax
        mov cx, 100
.sum:   add ax, cx
        loop .sum
        mov [V_SUM], ax
        mov eax, 0x12345678
        rol eax, 8
        mov [V_ROL], eax
        mov ax, 7
.int:   int VEC_RM
        mov [V_INT_AX], ax
        in al, 0x80                     ; allowed by the bitmap: no trap
        cli
        sti
        pushf
        pop ax
        mov [V_PUSHF], ax
        push word 0
        popf
        pushf
        pop ax
        mov [V_PUSHF2], ax
        hlt

; The real-mode handler of INT 21h: AX = 3 * AX.
v86_int21:
        mov [V_INT_CS], cs
        mov bx, ax
        add ax, bx
        add ax, bx
        iret

; IOPL 3.
v86_prog2:
        cli
        sti
        cli
        pushf
        pop ax
        mov [V_PUSHF3], ax
        push word 0                     ; IOPL 0 in the image: POPF keeps IOPL 3
        popf
        pushf
        pop ax
        mov [V_POPF3], ax
.int22: int VEC_GATE3
        mov word [V_AFTER22], 1
        int VEC_GATE0                   ; #GP(IDT): the monitor skips it
        mov word [V_AFTER23], 1
        in al, 0x80
        mov word [V_AFTER_IN80], 1
        in al, 0x81                     ; #GP(0) whatever IOPL is: the monitor skips it
        mov word [V_AFTER_IN81], 1
        hlt
        bits 32

; ---------------------------------------------------------------------------- monitor

; The 10-dword frame of a #GP from V86 mode, above the 8 registers of PUSHAD.
F_ERR           equ 32
F_EIP           equ 36
F_CS            equ 40
F_EFLAGS        equ 44
F_ESP           equ 48
F_SS            equ 52
FL_ARITH        equ 0x0CD5              ; CF PF AF ZF SF DF OF

v86_monitor:
        test dword [esp + 12], FL_VM
        jz .not_v86
        mov [ss:R_G_DS_IN - 4], ds      ; (scratch: DS on entry)
        pushad
        mov ds, [cs:flat_data]
        mov es, [cs:flat_data]
        inc dword [R_MON_GP]
        cmp dword [R_MON_GP], 1
        jne .decode
        mov eax, [R_G_DS_IN - 4]        ; the first #GP: keep DS, ESP and the frame
        mov [R_F_DS_IN], eax
        lea eax, [esp + F_ERR]
        mov [R_F_ESP_IN], eax
        lea esi, [esp + F_ERR]
        mov edi, R_F_FRAME
        mov ecx, 10
        rep movsd
.decode:
        movzx ebx, word [esp + F_CS]
        shl ebx, 4
        movzx eax, word [esp + F_EIP]
        add ebx, eax                    ; EBX: linear address of the instruction
        movzx eax, byte [ebx]
        cmp al, 0xCD
        je .int
        cmp al, 0xCF
        je .iret
        cmp al, 0xFA
        je .cli
        cmp al, 0xFB
        je .sti
        cmp al, 0x9C
        je .pushf
        cmp al, 0x9D
        je .popf
        cmp al, 0xF4
        je .hlt
        cmp al, 0xE4
        je .in_imm
        cmp al, 0xEC
        je .in_dx
        popad                           ; nothing this monitor knows: report the #GP
        mov dword [fault_vec], 13
        jmp resume

.int:   inc dword [R_MON_INT]
        cmp dword [esp + F_ERR], 0
        je .int_ivt
        mov eax, [esp + F_ERR]          ; an INT the IDT refused (IOPL 3): skip it
        mov [R_MON_INT_ERR], eax
        add word [esp + F_EIP], 2
        jmp .done
.int_ivt:
        call v86_flags_image
        call v86_push
        mov ax, [esp + F_CS]
        call v86_push
        mov ax, [esp + F_EIP]
        add ax, 2
        call v86_push
        movzx eax, byte [ebx + 1]
        movzx ecx, word [eax * 4]
        mov [esp + F_EIP], ecx
        movzx ecx, word [eax * 4 + 2]
        mov [esp + F_CS], ecx
        mov dword [R_VIF], 0
        and dword [esp + F_EFLAGS], ~FL_TF
        jmp .done
.iret:  inc dword [R_MON_IRET]
        call v86_pop
        movzx eax, ax
        mov [esp + F_EIP], eax
        call v86_pop
        movzx eax, ax
        mov [esp + F_CS], eax
        call v86_pop
        call v86_set_flags
        jmp .done
.cli:   inc dword [R_MON_CLI]
        mov dword [R_VIF], 0
        jmp .next1
.sti:   inc dword [R_MON_STI]
        mov dword [R_VIF], FL_IF
        jmp .next1
.pushf: inc dword [R_MON_PUSHF]
        call v86_flags_image
        call v86_push
        jmp .next1
.popf:  inc dword [R_MON_POPF]
        call v86_pop
        call v86_set_flags
        jmp .next1
.in_imm:
        movzx eax, byte [ebx + 1]
        mov [R_MON_IO_PORT], eax
        inc dword [R_MON_IO]
        add word [esp + F_EIP], 2
        jmp .done
.in_dx: movzx eax, word [esp + 20]      ; EDX in the PUSHAD image
        mov [R_MON_IO_PORT], eax
        inc dword [R_MON_IO]
        jmp .next1
.hlt:   inc dword [R_MON_HLT]
        popad
        jmp resume                      ; back to the V86_RUN that started this
.next1: inc word [esp + F_EIP]
.done:  popad
        add esp, 4                      ; the error code
        iretd
.not_v86:
        jmp exc_stubs + 13 * STUB_SIZE

; AX = the FLAGS image the V86 code sees: its arithmetic flags and the virtual IF.  The
; caller's frame is one return address further up the stack.
v86_flags_image:
        mov eax, [esp + 4 + F_EFLAGS]
        and eax, FL_ARITH
        or eax, [R_VIF]
        or eax, 2
        ret

; From a FLAGS image in AX: the arithmetic flags into the frame, IF into the virtual IF.
v86_set_flags:
        movzx eax, ax
        mov ecx, eax
        and ecx, FL_IF
        mov [R_VIF], ecx
        and eax, FL_ARITH
        and dword [esp + 4 + F_EFLAGS], ~FL_ARITH
        or [esp + 4 + F_EFLAGS], eax
        ret

; Push AX on the V86 stack (SS:SP of the frame).
v86_push:
        push ecx
        push edx
        mov ecx, [esp + 12 + F_ESP]
        sub cx, 2
        mov [esp + 12 + F_ESP], ecx
        movzx ecx, cx
        movzx edx, word [esp + 12 + F_SS]
        shl edx, 4
        mov [edx + ecx], ax
        pop edx
        pop ecx
        ret

; Pop AX from the V86 stack.
v86_pop:
        push ecx
        push edx
        mov ecx, [esp + 12 + F_ESP]
        movzx edx, word [esp + 12 + F_SS]
        shl edx, 4
        movzx eax, cx
        mov ax, [edx + eax]
        add cx, 2
        mov [esp + 12 + F_ESP], ecx
        pop edx
        pop ecx
        ret

; INT 22h from V86 mode with IOPL 3, through a DPL 3 interrupt gate.
v86_gate_handler:
        mov [ss:R_G_DS_IN], ds
        mov [ss:R_G_FS_IN], fs
        mov [ss:R_G_GS_IN], gs
        mov [ss:R_G_ESP_IN], esp
        push ds
        push es
        pushad
        mov ds, [cs:flat_data]
        mov es, [cs:flat_data]
        lea esi, [esp + 40]
        mov edi, R_G_FRAME
        mov ecx, 9
        rep movsd
        popad
        pop es
        pop ds
        iretd

guest_gdt:
guest_gdt_end:

        ROM_END
