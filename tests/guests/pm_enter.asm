; pm_enter - into protected mode and back out: the mode switches themselves.
;
; In real mode (guest_real) the guest enters 16-bit protected mode with LMSW, checks a far
; jump, segment loads and the default operand size there, goes back to real mode by clearing
; CR0.PE (80386 PRM 14.5, SDM vol. 3 9.9.2), enters 32-bit protected mode with MOV CR0, and
; returns to real mode again leaving FS and GS with 4 GiB limits ("unreal mode": a real-mode
; segment load changes only the selector and base).  Everything seen on the way is stored in
; memory; guest_main, in the common 32-bit setup that follows, compares it.
;
;   nasm -f bin -i tests/guests/ -o pm_enter.rom tests/guests/pm_enter.asm

%define GUEST_NAME "pm_enter"
%define GUEST_REAL
%include "pm.inc"

SEL_BASE12340   equ SEL_GUEST + 0x00    ; data, base 0x12340, 64 KiB

; What guest_real saw (words or dwords at GVARS).
R_MSW_PM16      equ GVARS + 0x00
R_CS_PM16       equ GVARS + 0x04
R_SS_PM16       equ GVARS + 0x08
R_DS_PM16       equ GVARS + 0x0C
R_PUSH16        equ GVARS + 0x10
R_BASE_READ     equ GVARS + 0x14
R_LMSW_CLEAR    equ GVARS + 0x18
R_MSW_RM1       equ GVARS + 0x1C
R_CS_RM1        equ GVARS + 0x20
R_RM_BASE       equ GVARS + 0x24
R_RM_GP         equ GVARS + 0x28        ; vector and IP of the last real-mode fault
R_RM_GP_IP      equ GVARS + 0x2C
R_CS_PM32       equ GVARS + 0x30
R_PUSH32        equ GVARS + 0x34
R_PM32_HIGH     equ GVARS + 0x38
R_UNREAL_FS     equ GVARS + 0x3C
R_UNREAL_GP     equ GVARS + 0x40
R_UNREAL_RELOAD equ GVARS + 0x44
R_CS_RM2        equ GVARS + 0x48
R_MSW_RM2       equ GVARS + 0x4C
R_RM_RECOVER    equ GVARS + 0x50
R_RM_SS_GP      equ GVARS + 0x54
R_RM_DS_GP      equ GVARS + 0x58
R_RM_DS_GP_IP   equ GVARS + 0x5C
R_END           equ GVARS + 0x60

HIGH_ADDR       equ 0x200000            ; above 1 MiB: needs a 4 GiB segment in real mode

        bits 16
guest_real:
        ; Clear the record, and catch #SS and #GP in real mode through the IVT.
        mov di, GVARS
        mov cx, (R_END - GVARS) / 2
        xor ax, ax
        rep stosw
        mov word [12 * 4], OFF(rm_ss_fault)
        mov word [12 * 4 + 2], 0xF000
        mov word [13 * 4], OFF(rm_gp_fault)
        mov word [13 * 4 + 2], 0xF000

        ; --- 16-bit protected mode, entered the 80286 way: LMSW sets PE.
        smsw ax
        or ax, 1
        lmsw ax
        jmp SEL_CODE16:OFF(.pm16)       ; the far jump loads CS from the GDT
.pm16:  smsw ax
        mov [R_MSW_PM16], ax
        mov ax, cs
        mov [R_CS_PM16], ax
        mov ax, SEL_DATA16
        mov ds, ax
        mov es, ax
        mov ss, ax                      ; same base and SP: the stack stays where it was
        mov ax, ss
        mov [R_SS_PM16], ax
        mov ax, ds
        mov [R_DS_PM16], ax
        mov bx, sp                      ; a 16-bit code segment pushes words
        push ax
        mov cx, sp
        pop ax
        sub bx, cx
        mov [R_PUSH16], bx
        mov ax, SEL_BASE12340           ; offset 0x10 of a segment based at 0x12340
        mov es, ax
        mov word [es:0x0010], 0xBEEF
        mov ax, SEL_DATA32
        mov fs, ax
        mov ax, [fs:dword 0x12350]
        mov [R_BASE_READ], ax
        smsw ax                         ; LMSW cannot clear PE (80386 PRM, LMSW)
        and ax, 0xFFFE
        lmsw ax
        smsw ax
        mov [R_LMSW_CLEAR], ax

        ; --- back to real mode: every segment register holds a 64 KiB, byte-granular,
        ; present, writable segment (DS, ES, SS hold SEL_DATA16; CS is SEL_CODE16).
        mov ax, SEL_DATA16
        mov es, ax
        mov fs, ax
        mov gs, ax
        mov eax, cr0
        and al, 0xFE
        mov cr0, eax
        jmp 0xF000:OFF(.rm1)
.rm1:   xor ax, ax
        mov ds, ax
        mov es, ax
        mov ss, ax
        smsw ax
        mov [R_MSW_RM1], ax
        mov ax, cs
        mov [R_CS_RM1], ax
        mov ax, 0x1234                  ; real mode: base = selector * 16
        mov es, ax
        mov word [es:0x0010], 0x5A5A
        mov ax, 0x1235
        mov fs, ax
        mov ax, [fs:0x0000]
        mov [R_RM_BASE], ax
        ; The real-mode limit is still checked: a dword at DS:FFFE crosses 64 KiB -> #GP.
        mov word [R_RM_RECOVER], OFF(.rm1b)
.rm1gp: mov eax, [0xFFFE]
.rm1b:  mov word [R_RM_RECOVER], 0
        mov ax, [R_RM_GP]               ; keep the vector and IP of the fault
        mov [R_RM_DS_GP], ax
        mov ax, [R_RM_GP_IP]
        mov [R_RM_DS_GP_IP], ax
        ; The same through SS: #SS.
        mov word [R_RM_GP], 0
        mov word [R_RM_RECOVER], OFF(.rm1c)
        mov bp, 0xFFFE
.rm1ss: mov eax, [bp]                   ; BP-based: SS, which kept its 64 KiB limit
.rm1c:  mov word [R_RM_RECOVER], 0
        mov ax, [R_RM_GP]
        mov [R_RM_SS_GP], ax

        ; --- 32-bit protected mode, entered with MOV CR0.
        mov eax, cr0
        or al, 1
        mov cr0, eax
        jmp dword SEL_CODE32:.pm32
        bits 32
.pm32:  mov ax, cs
        mov [R_CS_PM32], ax
        mov ax, SEL_DATA32
        mov ds, ax
        mov es, ax
        mov ss, ax
        movzx esp, sp
        mov ebx, esp                    ; a 32-bit code segment pushes dwords
        push eax
        mov ecx, esp
        pop eax
        sub ebx, ecx
        mov [R_PUSH32], ebx
        mov dword [HIGH_ADDR], 0xCAFEF00D
        mov eax, [HIGH_ADDR]
        mov [R_PM32_HIGH], eax
        ; FS and GS keep 4 GiB limits; DS, ES and SS get 64 KiB ones for real mode.
        mov ax, SEL_DATA32
        mov fs, ax
        mov gs, ax
        mov ax, SEL_DATA16
        mov ds, ax
        mov es, ax
        mov ss, ax
        jmp SEL_CODE16:OFF(.pm16b)      ; into a 16-bit segment before clearing PE
        bits 16
.pm16b: mov eax, cr0
        and al, 0xFE
        mov cr0, eax
        jmp 0xF000:OFF(.rm2)
.rm2:   xor ax, ax
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov ax, cs
        mov [R_CS_RM2], ax
        smsw ax
        mov [R_MSW_RM2], ax
        ; Unreal mode: FS still has the 4 GiB limit it got in protected mode.
        mov word [R_RM_GP], 0
        mov word [R_RM_RECOVER], OFF(.rm2b)
        mov eax, [fs:dword HIGH_ADDR]
        mov [R_UNREAL_FS], eax
.rm2b:  mov ax, [R_RM_GP]
        mov [R_UNREAL_GP], ax
        ; Reloading FS in real mode changes its base (to 0 here), not its limit.
        mov word [R_RM_RECOVER], OFF(.rm2c)
        xor ax, ax
        mov fs, ax
        mov eax, [fs:dword HIGH_ADDR]
        mov [R_UNREAL_RELOAD], eax
.rm2c:  mov word [R_RM_RECOVER], 0
        ; And GS can write above 1 MiB from real mode; guest_main reads it back.
        mov word [R_RM_RECOVER], OFF(.rm2d)
        mov dword [gs:dword HIGH_ADDR + 4], 0x600DF00D
.rm2d:  mov word [R_RM_RECOVER], 0
        ret

; Real-mode #SS and #GP: record the vector and the faulting IP, and resume at R_RM_RECOVER;
; outside such a place, report and stop.
rm_ss_fault:
        mov word [ss:R_RM_GP], 12
        jmp rm_fault
rm_gp_fault:
        mov word [ss:R_RM_GP], 13
rm_fault:
        push bp
        mov bp, sp
        push ax
        mov ax, [ss:bp + 2]             ; the IP the processor pushed
        mov [ss:R_RM_GP_IP], ax
        mov ax, [ss:R_RM_RECOVER]
        test ax, ax
        jz .stuck
        mov [ss:bp + 2], ax
        pop ax
        pop bp
        iret
.stuck: mov si, OFF(rm_stuck_text)
.next:  cs lodsb
        test al, al
        jz .stop
        out PORT_E9, al
        jmp .next
.stop:  mov al, 1
        out PORT_EXIT, al
        hlt
        jmp .stop
rm_stuck_text:
        db `FAIL rm-unexpected-fault: expected none got a #SS or #GP in real mode\n`, 0

        bits 32
guest_main:
        mov eax, [R_MSW_PM16]
        CHECK_MASKED "lmsw-sets-pe", 1, 1
        movzx eax, word [R_CS_PM16]
        CHECK_EAX "pm16-far-jmp-cs", SEL_CODE16
        movzx eax, word [R_SS_PM16]
        CHECK_EAX "pm16-load-ss", SEL_DATA16
        movzx eax, word [R_DS_PM16]
        CHECK_EAX "pm16-load-ds", SEL_DATA16
        movzx eax, word [R_PUSH16]
        CHECK_EAX "pm16-push-is-2-bytes", 2
        movzx eax, word [R_BASE_READ]
        CHECK_EAX "pm16-descriptor-base", 0xBEEF
        mov eax, [R_LMSW_CLEAR]
        CHECK_MASKED "lmsw-cannot-clear-pe", 1, 1
        mov eax, [R_MSW_RM1]
        CHECK_MASKED "rm-pe-cleared", 1, 0
        movzx eax, word [R_CS_RM1]
        CHECK_EAX "rm-far-jmp-cs", 0xF000
        movzx eax, word [R_RM_BASE]
        CHECK_EAX "rm-base-is-selector-x16", 0x5A5A
        movzx eax, word [R_RM_DS_GP]
        CHECK_EAX "rm-limit-64k-gp", 13
        movzx eax, word [R_RM_DS_GP_IP]
        CHECK_EAX "rm-limit-gp-ip", OFF(guest_real.rm1gp)
        movzx eax, word [R_RM_SS_GP]
        CHECK_EAX "rm-limit-64k-ss", 12
        movzx eax, word [R_CS_PM32]
        CHECK_EAX "pm32-far-jmp-cs", SEL_CODE32
        mov eax, [R_PUSH32]
        CHECK_EAX "pm32-push-is-4-bytes", 4
        mov eax, [R_PM32_HIGH]
        CHECK_EAX "pm32-flat-above-1m", 0xCAFEF00D
        movzx eax, word [R_CS_RM2]
        CHECK_EAX "rm-again-cs", 0xF000
        mov eax, [R_MSW_RM2]
        CHECK_MASKED "rm-again-pe-cleared", 1, 0
        movzx eax, word [R_UNREAL_GP]
        CHECK_EAX "unreal-fs-no-fault", 0
        mov eax, [R_UNREAL_FS]
        CHECK_EAX "unreal-fs-read", 0xCAFEF00D
        mov eax, [R_UNREAL_RELOAD]
        CHECK_EAX "unreal-fs-reload-keeps-limit", 0xCAFEF00D
        mov eax, [HIGH_ADDR + 4]
        CHECK_EAX "unreal-gs-write", 0x600DF00D
        ; And the common start-up came back into 32-bit protected mode from real mode.
        mov eax, cr0
        CHECK_MASKED "pm32-reentered", 1, 1
        ret

guest_gdt:
        DESC 0x12340, 0xFFFF, 0x92, 0x0         ; SEL_BASE12340
guest_gdt_end:

        ROM_END
