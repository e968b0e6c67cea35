; pm_486 - the instructions the 486, Pentium and P6 added, each only where the CPU has it.
;
; The common start-up finds the CPU class: EFLAGS.AC can be set on a 486 and later, not on a
; 386; EFLAGS.ID can be changed where CPUID exists, and CPUID leaf 1 EDX says whether RDTSC
; (TSC), CMPXCHG8B (CX8) and CMOVcc (CMOV) exist.  On a 386 every one of these opcodes is
; undefined and raises #UD; on a 486 BSWAP, XADD, CMPXCHG, INVD, WBINVD and INVLPG work (the
; last three at CPL 0 only); an instruction whose CPUID flag is clear raises #UD.  Semantics
; and exceptions from the SDM vol. 2 pages of each instruction.
;
;   nasm -f bin -i tests/guests/ -o pm_486.rom tests/guests/pm_486.asm

%define GUEST_NAME "pm_486"
%include "pm.inc"

MEM             equ GVARS + 0x40
MEM64           equ GVARS + 0x48
R_TSC1          equ GVARS + 0x50
R_TSC2          equ GVARS + 0x58
R_VENDOR        equ GVARS + 0x60        ; 12 characters and a NUL
R_EFL           equ GVARS + 0x70

; Run the instruction %1 and keep the EFLAGS it leaves in R_EFL.
%macro FLAGS_OF 1+
        %1
        pushfd
        pop dword [R_EFL]
%endmacro

guest_main:
        EXPECT "ud2", 6, 0, ud2
        cmp dword [cpu_class], 4
        jae i486

        ; ------------------------------------------------------------ 80386: all #UD
        EXPECT "386-bswap-ud", 6, 0, db 0x0F, 0xC8                 ; BSWAP EAX
        EXPECT "386-xadd-ud", 6, 0, db 0x0F, 0xC1, 0xC8            ; XADD EAX, ECX
        EXPECT "386-cmpxchg-ud", 6, 0, db 0x0F, 0xB1, 0xC8         ; CMPXCHG EAX, ECX
        EXPECT "386-cmpxchg-byte-ud", 6, 0, db 0x0F, 0xB0, 0xC8    ; CMPXCHG AL, CL
        EXPECT "386-invd-ud", 6, 0, db 0x0F, 0x08
        EXPECT "386-wbinvd-ud", 6, 0, db 0x0F, 0x09
        EXPECT "386-invlpg-ud", 6, 0, db 0x0F, 0x01, 0x38          ; INVLPG [EAX]
        EXPECT "386-cpuid-ud", 6, 0, db 0x0F, 0xA2
        EXPECT "386-rdtsc-ud", 6, 0, db 0x0F, 0x31
        mov esi, MEM64
        EXPECT "386-cmpxchg8b-ud", 6, 0, db 0x0F, 0xC7, 0x0E       ; CMPXCHG8B [ESI]
        EXPECT "386-cmov-ud", 6, 0, db 0x0F, 0x44, 0xC1            ; CMOVE EAX, ECX
        ret

        ; ------------------------------------------------------------ 486
i486:
        mov eax, 0x11223344
        bswap eax
        CHECK_EAX "bswap", 0x44332211
        mov edx, 0x80
        bswap edx
        mov eax, edx
        CHECK_EAX "bswap-edx", 0x80000000
        mov eax, 5
        mov ecx, 7
        xadd eax, ecx
        CHECK_EAX "xadd-sum", 12
        mov eax, ecx
        CHECK_EAX "xadd-old-value", 5
        mov eax, 0x7FFFFFFF
        mov ecx, 1
        FLAGS_OF xadd eax, ecx
        mov eax, [R_EFL]
        CHECK_MASKED "xadd-flags-like-add", FL_OF | 0x80 | FL_ZF | FL_CF, FL_OF | 0x80
        mov dword [MEM], 10
        mov ecx, 3
        xadd [MEM], ecx
        mov eax, [MEM]
        CHECK_EAX "xadd-memory-sum", 13
        mov eax, ecx
        CHECK_EAX "xadd-memory-old-value", 10
        mov dword [MEM], 5
        mov eax, 5
        mov ecx, 9
        FLAGS_OF cmpxchg [MEM], ecx
        mov eax, [R_EFL]
        CHECK_MASKED "cmpxchg-equal-zf", FL_ZF, FL_ZF
        mov eax, [MEM]
        CHECK_EAX "cmpxchg-equal-stores", 9
        mov eax, 4
        mov ecx, 1
        FLAGS_OF cmpxchg [MEM], ecx
        push eax
        mov eax, [R_EFL]
        CHECK_MASKED "cmpxchg-not-equal-zf", FL_ZF, 0
        pop eax
        CHECK_EAX "cmpxchg-not-equal-loads-eax", 9
        mov eax, [MEM]
        CHECK_EAX "cmpxchg-not-equal-keeps-memory", 9
        mov eax, 0xFFFFFF03
        mov ebx, 0x03
        mov ecx, 0x07
        cmpxchg bl, cl
        mov eax, ebx
        CHECK_EAX "cmpxchg-byte", 0x07
        mov eax, 0x00010000             ; CMP of AX with BX: AX=0 BX=0x0107, no store
        mov ebx, 0x00000107
        cmpxchg bx, cx
        CHECK_EAX "cmpxchg-word-loads-ax", 0x00010107
        EXPECT_OK "invd-ring0", invd
        EXPECT_OK "wbinvd-ring0", wbinvd
        EXPECT_OK "invlpg-ring0", invlpg [MEM]
        RING3_EXPECT "invd-ring3", 13, 0, 2, invd
        RING3_EXPECT "wbinvd-ring3", 13, 0, 2, wbinvd
        RING3_EXPECT "invlpg-ring3", 13, 0, 2, invlpg [ss:MEM]
        EXPECT "invlpg-register-operand-ud", 6, 0, db 0x0F, 0x01, 0xF8
        cmp dword [has_cpuid], 0
        jne cpuid_present

        ; ------------------------------------------------------------ 486 without CPUID
        EXPECT "cpuid-absent-ud", 6, 0, cpuid
        call rdtsc_absent
        call cx8_absent
        call cmov_absent
        ret

        ; ------------------------------------------------------------ CPUID
cpuid_present:
        xor eax, eax
        cpuid
        mov [R_VENDOR], ebx
        mov [R_VENDOR + 4], edx
        mov [R_VENDOR + 8], ecx
        mov byte [R_VENDOR + 12], 0
        cmp eax, 1
        setae al
        movzx eax, al
        CHECK_EAX "cpuid-max-leaf-at-least-1", 1
        PRINT "INFO cpuid vendor="
        mov esi, R_VENDOR
        call print_str
        PRINT `\n`
        mov eax, 1
        cpuid
        shr eax, 8
        and eax, 0xF
        cmp eax, 4
        setae al
        movzx eax, al
        CHECK_EAX "cpuid-family-at-least-4", 1
        mov eax, 1
        cpuid
        sub edx, [cpuid_edx1]
        mov eax, edx
        CHECK_EAX "cpuid-leaf1-stable", 0

        test dword [cpuid_edx1], CPUID_TSC
        jz .no_tsc
        rdtsc
        mov [R_TSC1], eax
        mov [R_TSC1 + 4], edx
        mov ecx, 1000
.spin:  loop .spin
        rdtsc
        mov [R_TSC2], eax
        mov [R_TSC2 + 4], edx
        sub eax, [R_TSC1]               ; the 64-bit difference is above 0, below 2^63
        sbb edx, [R_TSC1 + 4]
        xor ecx, ecx
        test edx, edx
        js .tsc_done
        or eax, edx
        jz .tsc_done
        inc ecx
.tsc_done:
        mov eax, ecx
        CHECK_EAX "rdtsc-increases", 1
        RING3_OK "rdtsc-ring3-tsd-clear", 2, rdtsc
        mov eax, cr4
        or eax, 1 << 2                  ; CR4.TSD
        mov cr4, eax
        RING3_EXPECT "rdtsc-ring3-tsd-set", 13, 0, 2, rdtsc
        EXPECT_OK "rdtsc-ring0-tsd-set", rdtsc
        mov eax, cr4
        and eax, ~(1 << 2)
        mov cr4, eax
        jmp .cx8
.no_tsc:
        call rdtsc_absent

.cx8:   test dword [cpuid_edx1], CPUID_CX8
        jz .no_cx8
        mov dword [MEM64], 0x11111111
        mov dword [MEM64 + 4], 0x22222222
        mov eax, 0x11111111
        mov edx, 0x22222222
        mov ebx, 0x33333333
        mov ecx, 0x44444444
        FLAGS_OF cmpxchg8b [MEM64]
        mov eax, [R_EFL]
        CHECK_MASKED "cmpxchg8b-equal-zf", FL_ZF, FL_ZF
        mov eax, [MEM64]
        CHECK_EAX "cmpxchg8b-equal-stores-low", 0x33333333
        mov eax, [MEM64 + 4]
        CHECK_EAX "cmpxchg8b-equal-stores-high", 0x44444444
        xor eax, eax
        xor edx, edx
        FLAGS_OF cmpxchg8b [MEM64]
        push eax
        mov eax, [R_EFL]
        CHECK_MASKED "cmpxchg8b-not-equal-zf", FL_ZF, 0
        pop eax
        CHECK_EAX "cmpxchg8b-not-equal-loads-eax", 0x33333333
        mov eax, edx
        CHECK_EAX "cmpxchg8b-not-equal-loads-edx", 0x44444444
        EXPECT "cmpxchg8b-register-operand-ud", 6, 0, db 0x0F, 0xC7, 0xC9
        jmp .cmov
.no_cx8:
        call cx8_absent

.cmov:  test dword [cpuid_edx1], CPUID_CMOV
        jz .no_cmov
        mov eax, 1
        mov ecx, 2
        cmp eax, eax
        cmove eax, ecx
        CHECK_EAX "cmov-taken", 2
        mov eax, 1
        cmp eax, ecx
        cmove eax, ecx
        CHECK_EAX "cmov-not-taken", 1
        mov eax, 1
        mov dword [MEM], 0x77
        cmp eax, ecx
        cmovb eax, [MEM]
        CHECK_EAX "cmov-memory", 0x77
        ret
.no_cmov:
        call cmov_absent
        ret

rdtsc_absent:
        EXPECT "rdtsc-absent-ud", 6, 0, rdtsc
        ret

cx8_absent:
        mov esi, MEM64
        EXPECT "cmpxchg8b-absent-ud", 6, 0, cmpxchg8b [esi]
        ret

cmov_absent:
        EXPECT "cmov-absent-ud", 6, 0, cmove eax, ecx
        ret

guest_gdt:
guest_gdt_end:

        ROM_END
