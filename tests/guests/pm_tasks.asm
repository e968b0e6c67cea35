; pm_tasks - hardware task switches between 32-bit TSSs.
;
; The main flow runs as task A (the TSS loaded by LTR).  It switches to task B with JMP and
; CALL to B's TSS descriptor and through a task gate in the GDT, to task C through a task
; gate in the IDT (INT n), and takes a #GP through a task gate to task D, which finds the
; error code on its own stack.  What each switch does to the busy bits, EFLAGS.NT, the
; previous-task link, CR0.TS, LDTR and the saved state follows SDM vol. 3 chapter 7 (7.3,
; table 7-2) and the 80386 PRM chapter 7; the refused switches (busy TSS, a TSS limit below
; 67H, not present, IRET to a link that is not busy, LTR of a busy TSS) raise the exceptions
; the JMP, CALL, IRET and LTR pages list.
;
;   nasm -f bin -i tests/guests/ -o pm_tasks.rom tests/guests/pm_tasks.asm

%define GUEST_NAME "pm_tasks"
%include "pm.inc"

SEL_TSSB        equ SEL_GUEST + 0x00
SEL_TSSC        equ SEL_GUEST + 0x08
SEL_TSSD        equ SEL_GUEST + 0x10
SEL_TSS_SMALL   equ SEL_GUEST + 0x18    ; limit 0x50 < 0x67
SEL_TSS_NP      equ SEL_GUEST + 0x20    ; not present
SEL_TGATE_B     equ SEL_GUEST + 0x28    ; task gate to B
SEL_LDTB        equ SEL_GUEST + 0x30    ; task B's LDT

TSSB_BASE       equ 0x4000
TSSC_BASE       equ 0x4100
TSSD_BASE       equ 0x4200
TSSE_BASE       equ 0x4300              ; behind the bad descriptors
LDTB_BASE       equ 0x4400
B_STACK         equ 0x16000
C_STACK         equ 0x15000
D_STACK         equ 0x14000

VEC_TASKGATE    equ 0x50

TYPE_BUSY       equ 0x8B                ; present, DPL 0, busy 32-bit TSS
TYPE_AVAIL      equ 0x89

; What the tasks saw; task B's record is cleared before each switch to it.
R_B_EAX         equ GVARS + 0x00
R_B_ESP         equ GVARS + 0x04
R_B_TR          equ GVARS + 0x08
R_B_LDT         equ GVARS + 0x0C
R_B_EFL         equ GVARS + 0x10
R_B_LINK        equ GVARS + 0x14
R_B_BUSY_A      equ GVARS + 0x18
R_B_BUSY_B      equ GVARS + 0x1C
R_B_CR0         equ GVARS + 0x20
R_B_END         equ GVARS + 0x24
R_C_TR          equ GVARS + 0x40
R_C_EFL         equ GVARS + 0x44
R_C_LINK        equ GVARS + 0x48
R_C_BUSY_A      equ GVARS + 0x4C
R_D_ERR         equ GVARS + 0x60
R_D_ESP         equ GVARS + 0x64
R_D_TR          equ GVARS + 0x68
R_D_EFL         equ GVARS + 0x6C
R_D_LINK        equ GVARS + 0x70
R_D_A_EIP       equ GVARS + 0x74
R_D_RESUME      equ GVARS + 0x78
SAVED_ESP       equ GVARS + 0x80

; Clear task B's record.
%macro CLEAR_B 0
        mov edi, R_B_EAX
        mov ecx, (R_B_END - R_B_EAX) / 4
        mov eax, 0xFFFFFFFF
        rep stosd
%endmacro

guest_main:
        mov edi, TSSB_BASE
        mov eax, task_b
        mov ebx, B_STACK
        call init_tss
        mov dword [TSSB_BASE + TSS_EAX], 0x12345678
        mov word [TSSB_BASE + TSS_LDT], SEL_LDTB
        mov edi, TSSC_BASE
        mov eax, task_c
        mov ebx, C_STACK
        call init_tss
        mov edi, TSSD_BASE
        mov eax, task_d
        mov ebx, D_STACK
        call init_tss
        mov edi, TSSE_BASE
        mov eax, task_b
        mov ebx, B_STACK
        call init_tss
        mov dword [LDTB_BASE], 0
        mov dword [LDTB_BASE + 4], 0
        mov ecx, VEC_TASKGATE           ; task gate, DPL 0, to task C
        xor eax, eax
        mov dx, SEL_TSSC
        mov bx, 0x8500
        call set_idt

        movzx eax, byte [GDT_BASE + SEL_TSS + 5]
        CHECK_EAX "ltr-marks-busy", TYPE_BUSY
        mov eax, SEL_TSS
        EXPECT "ltr-busy-tss", 13, SEL_TSS, ltr ax

        ; ------------------------------------------------------------ JMP to a TSS
        CLEAR_B
        clts
        mov [SAVED_ESP], esp
        mov eax, 0xA5A5A5A5
        TRY .r1
        jmp SEL_TSSB:0
.after_jmp:
        CHECK_EAX "jmp-back-restores-eax", 0xA5A5A5A5
.r1:    CHECK_FAULT "jmp-tss-round-trip", NO_FAULT, ANY, ANY
        movzx eax, word [R_B_TR]
        CHECK_EAX "jmp-tss-tr", SEL_TSSB
        mov eax, [R_B_EAX]
        CHECK_EAX "jmp-tss-loads-eax", 0x12345678
        mov eax, [R_B_ESP]
        CHECK_EAX "jmp-tss-loads-esp", B_STACK
        movzx eax, word [R_B_LDT]
        CHECK_EAX "jmp-tss-loads-ldtr", SEL_LDTB
        mov eax, [R_B_EFL]
        CHECK_MASKED "jmp-tss-nt-clear", FL_NT, 0
        movzx eax, word [R_B_LINK]
        CHECK_EAX "jmp-tss-link-untouched", 0
        mov eax, [R_B_BUSY_A]
        CHECK_EAX "jmp-tss-old-not-busy", TYPE_AVAIL
        mov eax, [R_B_BUSY_B]
        CHECK_EAX "jmp-tss-new-busy", TYPE_BUSY
        mov eax, [R_B_CR0]
        CHECK_MASKED "task-switch-sets-ts", 8, 8
        mov eax, [TSS_BASE + TSS_EIP]
        CHECK_EAX "jmp-tss-saves-eip", .after_jmp
        mov eax, [TSS_BASE + TSS_EAX]
        CHECK_EAX "jmp-tss-saves-eax", 0xA5A5A5A5
        mov eax, [TSS_BASE + TSS_ESP]
        sub eax, [SAVED_ESP]
        CHECK_EAX "jmp-tss-saves-esp", 0
        movzx eax, word [TSS_BASE + TSS_CS]
        CHECK_EAX "jmp-tss-saves-cs", SEL_CODE32
        movzx eax, word [TSS_BASE + TSS_SS]
        CHECK_EAX "jmp-tss-saves-ss", SEL_DATA32
        str ax
        movzx eax, ax
        CHECK_EAX "jmp-back-tr", SEL_TSS
        sldt ax
        movzx eax, ax
        CHECK_EAX "jmp-back-ldtr", 0
        movzx eax, byte [GDT_BASE + SEL_TSS + 5]
        CHECK_EAX "jmp-back-a-busy", TYPE_BUSY
        movzx eax, byte [GDT_BASE + SEL_TSSB + 5]
        CHECK_EAX "jmp-back-b-not-busy", TYPE_AVAIL

        ; ------------------------------------------------------------ CALL to a TSS, IRET
        CLEAR_B
        mov eax, 0x5A5A5A5A
        TRY .r2
        call SEL_TSSB:0
.after_call:
        CHECK_EAX "iret-back-restores-eax", 0x5A5A5A5A
.r2:    CHECK_FAULT "call-tss-round-trip", NO_FAULT, ANY, ANY
        mov eax, [TSS_BASE + TSS_EIP]
        CHECK_EAX "call-tss-saves-eip", .after_call
        mov eax, [R_B_EFL]
        CHECK_MASKED "call-tss-sets-nt", FL_NT, FL_NT
        movzx eax, word [R_B_LINK]
        CHECK_EAX "call-tss-back-link", SEL_TSS
        mov eax, [R_B_BUSY_A]
        CHECK_EAX "call-tss-old-stays-busy", TYPE_BUSY
        mov eax, [R_B_BUSY_B]
        CHECK_EAX "call-tss-new-busy", TYPE_BUSY
        movzx eax, byte [GDT_BASE + SEL_TSSB + 5]
        CHECK_EAX "iret-task-clears-busy", TYPE_AVAIL
        mov eax, [TSSB_BASE + TSS_EFLAGS]
        CHECK_MASKED "iret-task-clears-saved-nt", FL_NT, 0
        pushfd
        pop eax
        CHECK_MASKED "iret-task-caller-nt-clear", FL_NT, 0
        str ax
        movzx eax, ax
        CHECK_EAX "iret-back-tr", SEL_TSS

        ; ------------------------------------------------------------ task gates
        CLEAR_B
        TRY .r3
        jmp SEL_TGATE_B:0xDEAD          ; the offset is ignored
.r3:    CHECK_FAULT "jmp-task-gate-round-trip", NO_FAULT, ANY, ANY
        movzx eax, word [R_B_TR]
        CHECK_EAX "jmp-task-gate-tr", SEL_TSSB
        mov eax, [R_B_EFL]
        CHECK_MASKED "jmp-task-gate-nt-clear", FL_NT, 0
        TRY .r4
        int VEC_TASKGATE
.after_int:
.r4:    CHECK_FAULT "int-task-gate-round-trip", NO_FAULT, ANY, ANY
        movzx eax, word [R_C_TR]
        CHECK_EAX "int-task-gate-tr", SEL_TSSC
        mov eax, [R_C_EFL]
        CHECK_MASKED "int-task-gate-sets-nt", FL_NT, FL_NT
        movzx eax, word [R_C_LINK]
        CHECK_EAX "int-task-gate-back-link", SEL_TSS
        mov eax, [R_C_BUSY_A]
        CHECK_EAX "int-task-gate-old-busy", TYPE_BUSY
        mov eax, [TSS_BASE + TSS_EIP]
        CHECK_EAX "int-task-gate-saves-eip", .after_int

        ; An exception through a task gate: #GP(selector), the error code pushed on the
        ; handler task's stack; task D moves task A past the fault before it returns.
        mov ecx, 13
        xor eax, eax
        mov dx, SEL_TSSD
        mov bx, 0x8500
        call set_idt
        mov dword [R_D_RESUME], .after_gp
        mov eax, SEL_BEYOND_GDT
        TRY .r5
.gp:    mov ds, ax
        jmp .r5                         ; not reached if the #GP happens
.after_gp:
.r5:    mov ecx, 13
        call reset_idt
        CHECK_FAULT "exception-task-gate-round-trip", NO_FAULT, ANY, ANY
        mov eax, [R_D_ERR]
        CHECK_MASKED "exception-task-gate-error-code", 0xFFFF, SEL_BEYOND_GDT
        mov eax, [R_D_ESP]
        CHECK_EAX "exception-task-gate-new-stack", D_STACK - 4
        movzx eax, word [R_D_TR]
        CHECK_EAX "exception-task-gate-tr", SEL_TSSD
        mov eax, [R_D_EFL]
        CHECK_MASKED "exception-task-gate-nt", FL_NT, FL_NT
        movzx eax, word [R_D_LINK]
        CHECK_EAX "exception-task-gate-link", SEL_TSS
        mov eax, [R_D_A_EIP]
        CHECK_EAX "exception-task-gate-saved-eip", .gp

        ; ------------------------------------------------------------ refused switches
        EXPECT "call-busy-tss", 13, SEL_TSS, call SEL_TSS:0
        EXPECT "jmp-busy-tss", 13, SEL_TSS, jmp SEL_TSS:0
        EXPECT "jmp-tss-limit-below-67h", 10, SEL_TSS_SMALL, jmp SEL_TSS_SMALL:0
        EXPECT "jmp-tss-not-present", 11, SEL_TSS_NP, jmp SEL_TSS_NP:0
        ; IRET with NT=1 whose link names a TSS that is not busy: #TS(link).
        mov word [TSS_BASE + TSS_LINK], SEL_TSSB
        TRY .r6
        pushfd
        or dword [esp], FL_NT
        popfd
.iret:  iretd
.r6:    mov word [TSS_BASE + TSS_LINK], 0
        CHECK_FAULT "iret-nt-link-not-busy", 10, SEL_TSSB, .iret
        movzx eax, byte [GDT_BASE + SEL_TSS + 5]
        CHECK_EAX "refused-switches-keep-a-busy", TYPE_BUSY
        movzx eax, byte [GDT_BASE + SEL_TSSB + 5]
        CHECK_EAX "refused-switches-keep-b-free", TYPE_AVAIL
        clts
        ret

; A ring-0 32-bit TSS at EDI starting at EIP = EAX with ESP = EBX, flat segments, IF=0,
; no I/O bitmap (the map offset is beyond the limit).
init_tss:
        push edi
        push eax
        mov ecx, 0x68 / 4
        xor eax, eax
        rep stosd
        pop eax
        pop edi
        mov [edi + TSS_EIP], eax
        mov [edi + TSS_ESP], ebx
        mov dword [edi + TSS_EFLAGS], 2
        mov eax, cr3
        mov [edi + TSS_CR3], eax
        mov word [edi + TSS_CS], SEL_CODE32
        mov word [edi + TSS_SS], SEL_DATA32
        mov word [edi + TSS_DS], SEL_DATA32
        mov word [edi + TSS_ES], SEL_DATA32
        mov word [edi + TSS_FS], SEL_DATA32
        mov word [edi + TSS_GS], SEL_DATA32
        mov word [edi + TSS_IOMAP], 0x68
        ret

; Task B: record what the switch set up, then go back the way it came: IRET when nested
; (NT=1), else JMP to task A.  A later switch to B resumes after that, at the loop.
task_b:
        mov [R_B_EAX], eax
        mov [R_B_ESP], esp
        str [R_B_TR]
        sldt [R_B_LDT]
        pushfd
        pop dword [R_B_EFL]
        movzx eax, word [TSSB_BASE + TSS_LINK]
        mov [R_B_LINK], eax
        movzx eax, byte [GDT_BASE + SEL_TSS + 5]
        mov [R_B_BUSY_A], eax
        movzx eax, byte [GDT_BASE + SEL_TSSB + 5]
        mov [R_B_BUSY_B], eax
        mov eax, cr0
        mov [R_B_CR0], eax
        test dword [R_B_EFL], FL_NT
        jnz .nested
        jmp SEL_TSS:0
        jmp task_b
.nested:
        iretd
        jmp task_b

; Task C, behind the IDT's task gate.
task_c:
        str [R_C_TR]
        pushfd
        pop dword [R_C_EFL]
        movzx eax, word [TSSC_BASE + TSS_LINK]
        mov [R_C_LINK], eax
        movzx eax, byte [GDT_BASE + SEL_TSS + 5]
        mov [R_C_BUSY_A], eax
        iretd
        jmp task_c

; Task D, the #GP handler task: the error code is on its stack.
task_d:
        mov [R_D_ESP], esp
        pop dword [R_D_ERR]
        str [R_D_TR]
        pushfd
        pop dword [R_D_EFL]
        movzx eax, word [TSSD_BASE + TSS_LINK]
        mov [R_D_LINK], eax
        mov eax, [TSS_BASE + TSS_EIP]
        mov [R_D_A_EIP], eax
        mov eax, [R_D_RESUME]
        mov [TSS_BASE + TSS_EIP], eax
        iretd
        jmp task_d

guest_gdt:
        DESC TSSB_BASE, 0x67, TYPE_AVAIL, 0x0           ; SEL_TSSB
        DESC TSSC_BASE, 0x67, TYPE_AVAIL, 0x0           ; SEL_TSSC
        DESC TSSD_BASE, 0x67, TYPE_AVAIL, 0x0           ; SEL_TSSD
        DESC TSSE_BASE, 0x50, TYPE_AVAIL, 0x0           ; SEL_TSS_SMALL
        DESC TSSE_BASE, 0x67, TYPE_AVAIL & 0x7F, 0x0    ; SEL_TSS_NP
        GATE 0, SEL_TSSB, 0x85, 0                       ; SEL_TGATE_B
        DESC LDTB_BASE, 7, 0x82, 0x0                    ; SEL_LDTB
guest_gdt_end:

        ROM_END
