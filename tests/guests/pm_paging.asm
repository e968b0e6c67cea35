; pm_paging - two-level paging with 4 KiB pages, and 4 MiB pages where CPUID reports PSE.
;
; The linear space (SDM vol. 3 chapter 4 "32-bit paging"; 80386 PRM chapter 5):
;   0x00000000-0x003FFFFF  identity, user read/write (PT0), except the test pages below
;   0x00400000-0x007FFFFF  identity, PDE supervisor (U/S=0) over user PTEs
;   0x00800000-0x00BFFFFF  identity, PDE read-only (R/W=0) over writable user PTEs
;   0x00C00000-0x00FFFFFF  identity, untouched until the accessed/dirty checks
;   0x40000000-0x403FFFFF  demand region: no page table until a #PF maps one
;   0x80000000, 0x80400000 two 4 MiB pages (PSE) onto physical 0x00400000
; The #PF handler maps demand-region pages on first touch from a pool at 3 MiB and lets
; every other #PF through to the recorder.  Checked: CR2 and the error code (P, W/R, U/S;
; 4.7), the pushed EIP of data and instruction-fetch faults, U/S and R/W combined over PDE
; and PTE (4.6), CR0.WP on the 486 and later (the 80386 lets ring 0 write any page), the
; accessed and dirty bits (4.8), INVLPG and a CR3 reload making a changed PTE seen (4.10.4).
; Whether a stale translation is still used before the flush is the processor's choice, so
; that is not checked.
;
;   nasm -f bin -i tests/guests/ -o pm_paging.rom tests/guests/pm_paging.asm

%define GUEST_NAME "pm_paging"
%include "pm.inc"

PD              equ PAGE_TABLES
PT0             equ PAGE_TABLES + 0x1000
PT1             equ PAGE_TABLES + 0x2000
PT2             equ PAGE_TABLES + 0x3000
PT3             equ PAGE_TABLES + 0x4000

PG_P            equ 1
PG_W            equ 2
PG_U            equ 4
PG_A            equ 0x20
PG_D            equ 0x40
PG_PS           equ 0x80

PAGE_RO_U       equ 0x201000            ; user, read-only
PAGE_SUP        equ 0x202000            ; supervisor, read/write
PAGE_AD         equ 0x203000            ; for the accessed/dirty bits
PAGE_X          equ 0x204000            ; remapped between FRAME_A and FRAME_B
FRAME_A         equ 0x205000
FRAME_B         equ 0x206000
PAGE_NP         equ 0x207000            ; not present
PAGE_FETCH      equ 0x208000            ; not present, jumped to
PDE_AD_AREA     equ 0xC00000            ; PDE 3

DEMAND          equ 0x40000000
POOL            equ 0x300000
PSE_A           equ 0x80000000
PSE_B           equ 0x80400000
PSE_PHYS        equ 0x00400000

R_PF_COUNT      equ GVARS + 0x00
R_PF_CR2        equ GVARS + 0x04
R_PF_ERR        equ GVARS + 0x08
R_PF_EIP        equ GVARS + 0x0C
R_POOL_NEXT     equ GVARS + 0x10
R_VALUE         equ GVARS + 0x14

guest_main:
        call build_page_tables
        mov dword [R_PF_COUNT], 0
        mov dword [R_POOL_NEXT], POOL
        mov ecx, 14
        mov eax, pf_handler
        mov dx, SEL_CODE32
        mov bx, 0x8E00
        call set_idt
        mov eax, [ROM_BASE]
        mov [R_VALUE], eax
        mov eax, PD
        mov cr3, eax
        mov eax, cr0
        or eax, 0x80000000
        mov cr0, eax
        jmp .paged                      ; (the 386 wants a jump after setting PG)
.paged: mov eax, cr0
        CHECK_MASKED "paging-enabled", 0x80000000, 0x80000000
        mov eax, [ROM_BASE]
        sub eax, [R_VALUE]
        CHECK_EAX "identity-map-reads-rom", 0

        ; ------------------------------------------------------------ accessed and dirty
        mov eax, [PT0 + (PAGE_AD >> 12) * 4]
        CHECK_MASKED "pte-fresh", PG_A | PG_D, 0
        mov eax, [PAGE_AD]
        mov eax, [PT0 + (PAGE_AD >> 12) * 4]
        CHECK_MASKED "pte-accessed-on-read", PG_A | PG_D, PG_A
        mov dword [PAGE_AD], 1
        mov eax, [PT0 + (PAGE_AD >> 12) * 4]
        CHECK_MASKED "pte-dirty-on-write", PG_A | PG_D, PG_A | PG_D
        mov eax, [PD + 3 * 4]
        CHECK_MASKED "pde-fresh", PG_A | PG_D, 0
        mov dword [PDE_AD_AREA], 1
        mov eax, [PD + 3 * 4]
        CHECK_MASKED "pde-accessed", PG_A, PG_A
        mov eax, [PD + 3 * 4]           ; a PDE that points to a page table is never dirty
        CHECK_MASKED "pde-dirty-untouched", PG_D, 0

        ; ------------------------------------------------------------ demand paging
        TRY .r1
.w1:    mov dword [DEMAND + 0x1234], 0x1234ABCD
.r1:    CHECK_FAULT "demand-write-resumes", NO_FAULT, ANY, ANY
        mov eax, [R_PF_COUNT]
        CHECK_EAX "demand-write-one-fault", 1
        mov eax, [R_PF_CR2]
        CHECK_EAX "demand-write-cr2", DEMAND + 0x1234
        mov eax, [R_PF_ERR]
        CHECK_MASKED "demand-write-error-code", 0xFFFF, PG_W
        mov eax, [R_PF_EIP]
        CHECK_EAX "demand-write-eip", .w1
        mov eax, [DEMAND + 0x1234]
        CHECK_EAX "demand-write-value", 0x1234ABCD
        TRY .r2
        mov eax, [DEMAND + 0x2000]
        mov [R_VALUE], eax
.r2:    CHECK_FAULT "demand-read-resumes", NO_FAULT, ANY, ANY
        mov eax, [R_PF_COUNT]
        CHECK_EAX "demand-read-one-fault", 2
        mov eax, [R_PF_CR2]
        CHECK_EAX "demand-read-cr2", DEMAND + 0x2000
        mov eax, [R_PF_ERR]
        CHECK_MASKED "demand-read-error-code", 0xFFFF, 0
        mov eax, [R_VALUE]
        CHECK_EAX "demand-read-fresh-page", 0
        mov eax, [DEMAND + 0x1238]
        mov eax, [R_PF_COUNT]
        CHECK_EAX "demand-mapped-no-refault", 2
        RING3_OK "demand-user-write-resumes", 2, mov dword [ss:DEMAND + 0x3004], 0x600D
        mov eax, [R_PF_ERR]
        CHECK_MASKED "demand-user-write-error-code", 0xFFFF, PG_U | PG_W
        mov eax, [R_PF_COUNT]
        CHECK_EAX "demand-user-one-fault", 3
        mov eax, [DEMAND + 0x3004]
        CHECK_EAX "demand-user-write-value", 0x600D

        ; ------------------------------------------------------------ protection
        RING3_EXPECT "user-read-supervisor-page", 14, PG_P | PG_U, 2, mov eax, [ss:PAGE_SUP + 8]
        mov eax, [fault_cr2]
        CHECK_EAX "user-read-supervisor-page-cr2", PAGE_SUP + 8
        RING3_EXPECT "user-write-read-only-page", 14, PG_P | PG_W | PG_U, 2, mov [ss:PAGE_RO_U + 0xFFC], eax
        mov eax, [fault_cr2]
        CHECK_EAX "user-write-read-only-page-cr2", PAGE_RO_U + 0xFFC
        RING3_OK "user-read-read-only-page", 2, mov eax, [ss:PAGE_RO_U]
        EXPECT_OK "supervisor-read-supervisor-page", mov eax, [PAGE_SUP]
        RING3_EXPECT "user-read-under-supervisor-pde", 14, PG_P | PG_U, 2, mov eax, [ss:0x400000]
        RING3_EXPECT "user-write-under-read-only-pde", 14, PG_P | PG_W | PG_U, 2, mov [ss:0x800000], eax
        RING3_OK "user-read-under-read-only-pde", 2, mov eax, [ss:0x800000]
        EXPECT "read-not-present", 14, 0, mov eax, [PAGE_NP + 0x10]
        mov eax, [fault_cr2]
        CHECK_EAX "read-not-present-cr2", PAGE_NP + 0x10
        EXPECT "write-not-present", 14, PG_W, mov [PAGE_NP + 0x20], eax
        TRY .r3
        jmp PAGE_FETCH + 4
.r3:    CHECK_FAULT "fetch-not-present", 14, 0, PAGE_FETCH + 4
        mov eax, [fault_cr2]
        CHECK_EAX "fetch-not-present-cr2", PAGE_FETCH + 4
        TRY .r4
        RING3 2, PAGE_SUP
.r4:    CHECK_FAULT "user-fetch-supervisor-page", 14, PG_P | PG_U, PAGE_SUP
        ; A write that crosses into a not-present page faults.  (Where CR2 points inside
        ; the access and whether the first page was written are not pinned down by the
        ; SDM, so they are not checked.)
        EXPECT "write-crossing-into-not-present", 14, PG_W, mov dword [PAGE_NP - 2], 0xFFFFFFFF

        ; ------------------------------------------------------------ CR0.WP
        EXPECT_OK "wp0-supervisor-writes-read-only", mov [PAGE_RO_U + 4], eax
        cmp dword [cpu_class], 4
        jb .no_wp
        mov eax, cr0
        or eax, 1 << 16
        mov cr0, eax
        EXPECT "wp1-supervisor-write-read-only", 14, PG_P | PG_W, mov [PAGE_RO_U + 8], eax
        EXPECT_OK "wp1-supervisor-read-read-only", mov eax, [PAGE_RO_U + 8]
        mov eax, cr0
        and eax, ~(1 << 16)
        mov cr0, eax
.no_wp:

        ; ------------------------------------------------------------ TLB flushes
        mov dword [FRAME_A], 0xAAAAAAAA
        mov dword [FRAME_B], 0xBBBBBBBB
        mov eax, [PAGE_X]
        CHECK_EAX "remap-before", 0xAAAAAAAA
        mov dword [PT0 + (PAGE_X >> 12) * 4], FRAME_B | PG_U | PG_W | PG_P
        cmp dword [cpu_class], 4
        jb .invlpg_386
        invlpg [PAGE_X]
        mov eax, [PAGE_X]
        CHECK_EAX "invlpg-new-translation", 0xBBBBBBBB
        jmp .cr3
.invlpg_386:
        EXPECT "invlpg-386-ud", 6, 0, invlpg [PAGE_X]
        mov eax, cr3
        mov cr3, eax
.cr3:   mov dword [PT0 + (PAGE_X >> 12) * 4], FRAME_A | PG_U | PG_W | PG_P
        mov eax, cr3
        mov cr3, eax
        mov eax, [PAGE_X]
        CHECK_EAX "cr3-reload-new-translation", 0xAAAAAAAA
        mov dword [PT0 + (PAGE_X >> 12) * 4], 0
        mov eax, cr3
        mov cr3, eax
        EXPECT "flushed-not-present-faults", 14, 0, mov eax, [PAGE_X]

        ; ------------------------------------------------------------ 4 MiB pages
        test dword [cpuid_edx1], CPUID_PSE
        jz .no_pse
        mov eax, cr4
        or eax, 1 << 4                  ; CR4.PSE
        mov cr4, eax
        mov dword [PD + (PSE_A >> 22) * 4], PSE_PHYS | PG_PS | PG_W | PG_P
        mov dword [PD + (PSE_B >> 22) * 4], PSE_PHYS | PG_PS | PG_W | PG_P
        mov eax, cr3
        mov cr3, eax
        mov dword [PSE_A + 0x10], 0xDEADBEEF
        mov eax, [PSE_B + 0x10]
        CHECK_EAX "pse-4m-alias", 0xDEADBEEF
        mov eax, [PSE_PHYS + 0x10]      ; through PT1's identity map
        CHECK_EAX "pse-4m-physical", 0xDEADBEEF
        mov dword [PSE_A + 0x3FF000], 0x4444
        mov eax, [PSE_PHYS + 0x3FF000]
        CHECK_EAX "pse-22-bit-offset", 0x4444
        mov eax, [PD + (PSE_A >> 22) * 4]
        CHECK_MASKED "pse-pde-accessed-dirty", PG_A | PG_D, PG_A | PG_D
        mov eax, [PD + (PSE_B >> 22) * 4]
        CHECK_MASKED "pse-pde-read-only-accessed", PG_A | PG_D, PG_A
        EXPECT "pse-not-present", 14, PG_W, mov dword [PSE_B + 0x400000], 0
        mov eax, [fault_cr2]
        CHECK_EAX "pse-not-present-cr2", PSE_B + 0x400000
        mov eax, cr4
        and eax, ~(1 << 4)
        mov cr4, eax
.no_pse:
        mov eax, cr0
        and eax, 0x7FFFFFFF
        mov cr0, eax
        ret

; Identity maps with the attributes listed in the header; everything else not present.
build_page_tables:
        mov edi, PD
        mov ecx, 5 * 1024
        xor eax, eax
        rep stosd
        mov edi, PT0
        mov eax, PG_U | PG_W | PG_P
        mov ecx, 4 * 1024               ; PT0-PT3: 0-16 MiB
.pte:   stosd
        add eax, 0x1000
        loop .pte
        mov dword [PD + 0 * 4], PT0 | PG_U | PG_W | PG_P
        mov dword [PD + 1 * 4], PT1 | PG_W | PG_P
        mov dword [PD + 2 * 4], PT2 | PG_U | PG_P
        mov dword [PD + 3 * 4], PT3 | PG_U | PG_W | PG_P
        mov dword [PT0 + (PAGE_RO_U >> 12) * 4], PAGE_RO_U | PG_U | PG_P
        mov dword [PT0 + (PAGE_SUP >> 12) * 4], PAGE_SUP | PG_W | PG_P
        mov dword [PT0 + (PAGE_X >> 12) * 4], FRAME_A | PG_U | PG_W | PG_P
        mov dword [PT0 + (PAGE_NP >> 12) * 4], 0
        mov dword [PT0 + (PAGE_FETCH >> 12) * 4], 0
        ret

; #PF: a fault in the demand region gets a page table (if its PDE is empty) and a zeroed
; page, user read/write, and the access is restarted.  Any other goes to the recorder.
pf_handler:
        push ds
        push es
        pushad
        mov ds, [cs:flat_data]
        mov es, [cs:flat_data]
        mov eax, cr2
        mov edx, eax
        and edx, 0xFFC00000
        cmp edx, DEMAND
        jne .other
        inc dword [R_PF_COUNT]
        mov [R_PF_CR2], eax
        mov ebx, [esp + 40]             ; past the general registers, ES and DS
        mov [R_PF_ERR], ebx
        mov ebx, [esp + 44]
        mov [R_PF_EIP], ebx
        mov ebx, eax
        shr ebx, 22
        lea ebx, [PD + ebx * 4]
        test dword [ebx], PG_P
        jnz .pte
        call alloc_page
        or edi, PG_U | PG_W | PG_P
        mov [ebx], edi
.pte:   mov ebx, [ebx]
        and ebx, 0xFFFFF000
        shr eax, 12
        and eax, 0x3FF
        lea ebx, [ebx + eax * 4]
        call alloc_page
        or edi, PG_U | PG_W | PG_P
        mov [ebx], edi
        popad
        pop es
        pop ds
        add esp, 4                      ; the error code
        iretd
.other: popad
        pop es
        pop ds
        jmp exc_stubs + 14 * STUB_SIZE

; EDI = a zeroed page from the pool (identity mapped).
alloc_page:
        push eax
        push ecx
        mov edi, [R_POOL_NEXT]
        add dword [R_POOL_NEXT], 0x1000
        push edi
        mov ecx, 1024
        xor eax, eax
        rep stosd
        pop edi
        pop ecx
        pop eax
        ret

guest_gdt:
guest_gdt_end:

        ROM_END
