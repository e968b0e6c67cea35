; pm_pae - PAE paging (CR4.PAE) where CPUID reports PAE; elsewhere, that CR4.PAE cannot be set.
;
; The linear space under PAE (SDM vol. 3, "PAE Paging"; Pentium Pro Family Developer's
; Manual vol. 3, "Physical Address Extension"):
;   PDPTE 0 -> PD0:  0x00000000-0x001FFFFF  4 KiB pages (PT0), identity, user read/write,
;                                           except the test pages below
;                    0x00200000-0x003FFFFF  a 2 MiB page, identity, supervisor
;                    0x00400000-0x00FFFFFF  2 MiB pages, identity, user read/write
;   PDPTE 1, 3       not present
;   PDPTE 2 -> PD2:  0x80000000  2 MiB page onto physical 0x00400000 (then 0x00600000)
;                    0x80200000  2 MiB page with reserved bit 13 set
;                    0x80400000  2 MiB page at physical 0x1_00000000 (above 4 GiB)
;                    0x80600000  a PDE (to PT0) with reserved bit 62 set
;                    0x80800000  not present, reserved bits set (not checked: P=0)
; Checked: the PDPTEs load when CR0.PG is set and when CR3 is written, a reserved bit in a
; present PDPTE is #GP(0) and changes nothing, the PDPTEs are registers (a changed PDPT in
; memory is seen only after the next CR3 load); 4 KiB and 2 MiB translations, the 21-bit
; offset; reserved bits in a PDE or PTE give #PF with RSVD (bit 3) and P set; accessed and
; dirty bits; U/S, R/W and CR0.WP; INVLPG (for a 2 MiB page, from any address in it), CR3
; reloads and CR4.PGE toggles flushing global pages; a page above 4 GiB does not alias low
; memory.  Without PAE: MOV to CR4 with PAE set is #GP(0) where CR4 exists.
;
;   nasm -f bin -i tests/guests/ -o pm_pae.rom tests/guests/pm_pae.asm

%define GUEST_NAME "pm_pae"
%include "pm.inc"

PDPT            equ PAGE_TABLES                 ; 32-byte aligned
PDPT_BAD        equ PAGE_TABLES + 0x40          ; PDPTE 0 with reserved bit 1 set
PDPT_BAD_HI     equ PAGE_TABLES + 0x80          ; PDPTE 2 with reserved bit 36 set
PDPT_NP         equ PAGE_TABLES + 0xC0          ; PDPTE 1 not present, reserved bits set
PD0             equ PAGE_TABLES + 0x1000
PT0             equ PAGE_TABLES + 0x2000
PD2             equ PAGE_TABLES + 0x3000

PG_P            equ 1
PG_W            equ 2
PG_U            equ 4
PG_A            equ 0x20
PG_D            equ 0x40
PG_PS           equ 0x80
PG_G            equ 0x100
PF_RSVD         equ 8

CPUID_PAE       equ 1 << 6
CPUID_PGE       equ 1 << 13
CPUID_CR4       equ (1 << 1) | (1 << 2) | (1 << 3) | (1 << 4)   ; VME, DE, PSE, TSC: CR4 exists
CR4_PAE         equ 1 << 5
CR4_PGE         equ 1 << 7

PAGE_RO_U       equ 0x101000            ; user, read-only
PAGE_SUP        equ 0x102000            ; supervisor, read/write
PAGE_AD         equ 0x103000            ; for the accessed/dirty bits
PAGE_X          equ 0x104000            ; remapped between FRAME_A and FRAME_B
FRAME_A         equ 0x105000
FRAME_B         equ 0x106000
PAGE_NP         equ 0x107000            ; not present
PAGE_RSVD       equ 0x108000            ; PTE with reserved bit 40 set
PAGE_HIGH       equ 0x109000            ; PTE onto physical 0x1_00005000
PAGE_G          equ 0x10A000            ; global, remapped between FRAME_A and FRAME_B
LOW_ALIAS       equ 0x005000            ; what PAGE_HIGH would hit if bits 35:32 were lost
SUP_2M          equ 0x200000
BIG             equ 0x80000000
BIG_PHYS        equ 0x400000
BIG_PHYS2       equ 0x600000
BIG_RSVD        equ 0x80200000
BIG_HIGH        equ 0x80400000
PDE_RSVD        equ 0x80600000
PDE_NP          equ 0x80800000

guest_main:
        test dword [cpuid_edx1], CPUID_PAE
        jnz pae
        test dword [cpuid_edx1], CPUID_CR4
        jz .done
        mov eax, cr4
        mov ebx, eax
        or eax, CR4_PAE
        EXPECT "cr4-pae-gp", 13, 0, mov cr4, eax
        mov eax, cr4
        sub eax, ebx
        CHECK_EAX "cr4-unchanged", 0
.done:  ret

; ------------------------------------------------------------------------------ PAE
pae:
        call build_page_tables
        mov eax, cr4
        or eax, CR4_PAE
        mov cr4, eax
        ; PG on with a reserved bit in a present PDPTE: #GP(0), paging stays off.
        mov eax, PDPT_BAD
        mov cr3, eax
        mov eax, cr0
        or eax, 0x80000000
        EXPECT "pg-bad-pdpte-gp", 13, 0, mov cr0, eax
        mov eax, cr0
        CHECK_MASKED "pg-stays-off", 0x80000000, 0
        mov eax, PDPT
        mov cr3, eax
        mov eax, cr0
        or eax, 0x80000000
        mov cr0, eax
        mov eax, cr0
        CHECK_MASKED "paging-enabled", 0x80000000, 0x80000000
        mov eax, cr4
        CHECK_MASKED "pae-enabled", CR4_PAE, CR4_PAE

        ; ------------------------------------------------------------ PDPTE registers
        mov eax, PDPT_BAD
        EXPECT "cr3-bad-pdpte-gp", 13, 0, mov cr3, eax
        mov eax, cr3
        CHECK_EAX "cr3-unchanged", PDPT
        mov eax, PDPT_BAD_HI
        EXPECT "cr3-pdpte-bit36-gp", 13, 0, mov cr3, eax
        mov eax, PDPT_NP
        EXPECT_OK "cr3-not-present-pdpte-unchecked", mov cr3, eax
        mov eax, PDPT
        mov cr3, eax
        mov dword [BIG + 0x10], 0x2222
        mov eax, [BIG_PHYS + 0x10]
        CHECK_EAX "pdpte-reload-maps", 0x2222
        ; The PDPTE for 0x80000000 goes away in memory: the register still has it (even
        ; after INVLPG) until CR3 is written again.
        mov dword [PDPT + 2 * 8], 0
        invlpg [BIG + 0x10]
        EXPECT_OK "pdpte-is-a-register", mov eax, [BIG + 0x10]
        mov eax, cr3
        mov cr3, eax
        EXPECT "pdpte-reloaded-not-present", 14, 0, mov eax, [BIG + 0x10]
        mov eax, [fault_cr2]
        CHECK_EAX "pdpte-not-present-cr2", BIG + 0x10
        mov dword [PDPT + 2 * 8], PD2 | PG_P
        mov eax, cr3
        mov cr3, eax

        ; ------------------------------------------------------------ 4 KiB pages
        mov eax, [rom_word]
        CHECK_EAX "identity-4k-reads-rom", 0x5041450A
        mov eax, [PT0 + (PAGE_AD >> 12) * 8]
        CHECK_MASKED "pte-fresh", PG_A | PG_D, 0
        mov eax, [PAGE_AD]
        mov eax, [PT0 + (PAGE_AD >> 12) * 8]
        CHECK_MASKED "pte-accessed-on-read", PG_A | PG_D, PG_A
        mov dword [PAGE_AD], 1
        mov eax, [PT0 + (PAGE_AD >> 12) * 8]
        CHECK_MASKED "pte-dirty-on-write", PG_A | PG_D, PG_A | PG_D
        mov eax, [PT0 + (PAGE_AD >> 12) * 8 + 4]
        CHECK_EAX "pte-high-dword-kept", 0
        mov eax, [PD0]
        CHECK_MASKED "pde-accessed-not-dirty", PG_A | PG_D, PG_A

        ; ------------------------------------------------------------ 2 MiB pages
        mov dword [BIG + 0x10], 0xDEADBEEF
        mov eax, [BIG_PHYS + 0x10]
        CHECK_EAX "2m-alias", 0xDEADBEEF
        mov dword [BIG + 0x1FF004], 0x4444
        mov eax, [BIG_PHYS + 0x1FF004]
        CHECK_EAX "2m-21-bit-offset", 0x4444
        mov eax, [PD2]
        CHECK_MASKED "2m-pde-accessed-dirty", PG_A | PG_D, PG_A | PG_D
        mov eax, [PD0 + 4 * 8]          ; the identity 2 MiB page at 8 MiB, never touched
        CHECK_MASKED "2m-pde-fresh", PG_A | PG_D, 0
        mov eax, [0x800000]
        mov eax, [PD0 + 4 * 8]
        CHECK_MASKED "2m-pde-accessed-on-read", PG_A | PG_D, PG_A

        ; ------------------------------------------------------------ reserved bits
        EXPECT "rsvd-2m-bit13", 14, PG_P | PF_RSVD, mov eax, [BIG_RSVD + 8]
        mov eax, [fault_cr2]
        CHECK_EAX "rsvd-2m-bit13-cr2", BIG_RSVD + 8
        EXPECT "rsvd-pde-bit62-write", 14, PG_P | PG_W | PF_RSVD, mov [PDE_RSVD], eax
        EXPECT "rsvd-pte-bit40", 14, PG_P | PF_RSVD, mov eax, [PAGE_RSVD]
        RING3_EXPECT "rsvd-pte-user", 14, PG_P | PG_U | PF_RSVD, 2, mov eax, [ss:PAGE_RSVD]
        mov eax, [PT0 + (PAGE_RSVD >> 12) * 8]
        CHECK_MASKED "rsvd-pte-not-accessed", PG_A, 0
        EXPECT "rsvd-unchecked-not-present", 14, 0, mov eax, [PDE_NP]

        ; ------------------------------------------------------------ protection
        RING3_EXPECT "user-read-supervisor-page", 14, PG_P | PG_U, 2, mov eax, [ss:PAGE_SUP + 8]
        mov eax, [fault_cr2]
        CHECK_EAX "user-read-supervisor-page-cr2", PAGE_SUP + 8
        RING3_EXPECT "user-write-read-only-page", 14, PG_P | PG_W | PG_U, 2, mov [ss:PAGE_RO_U + 0xFFC], eax
        RING3_OK "user-read-read-only-page", 2, mov eax, [ss:PAGE_RO_U]
        RING3_EXPECT "user-read-supervisor-2m", 14, PG_P | PG_U, 2, mov eax, [ss:SUP_2M + 0x1234]
        EXPECT_OK "supervisor-read-supervisor-2m", mov eax, [SUP_2M + 0x1234]
        EXPECT "read-not-present", 14, 0, mov eax, [PAGE_NP + 0x10]
        RING3_EXPECT "user-write-not-present", 14, PG_W | PG_U, 2, mov [ss:PAGE_NP], eax
        EXPECT "not-present-pdpte", 14, PG_W, mov [0x40000000], eax
        EXPECT_OK "wp0-supervisor-writes-read-only", mov [PAGE_RO_U + 4], eax
        mov eax, cr0
        or eax, 1 << 16
        mov cr0, eax
        EXPECT "wp1-supervisor-write-read-only", 14, PG_P | PG_W, mov [PAGE_RO_U + 8], eax
        EXPECT_OK "wp1-supervisor-read-read-only", mov eax, [PAGE_RO_U + 8]
        mov eax, cr0
        and eax, ~(1 << 16)
        mov cr0, eax

        ; ------------------------------------------------------------ TLB flushes
        mov dword [FRAME_A], 0xAAAAAAAA
        mov dword [FRAME_B], 0xBBBBBBBB
        mov eax, [PAGE_X]
        CHECK_EAX "remap-before", 0xAAAAAAAA
        mov dword [PT0 + (PAGE_X >> 12) * 8], FRAME_B | PG_U | PG_W | PG_P
        invlpg [PAGE_X]
        mov eax, [PAGE_X]
        CHECK_EAX "invlpg-new-translation", 0xBBBBBBBB
        mov dword [PT0 + (PAGE_X >> 12) * 8], FRAME_A | PG_U | PG_W | PG_P
        mov eax, cr3
        mov cr3, eax
        mov eax, [PAGE_X]
        CHECK_EAX "cr3-reload-new-translation", 0xAAAAAAAA
        ; A 2 MiB page: INVLPG of one address in it drops the whole page.
        mov dword [BIG_PHYS2 + 0x1FF004], 0x6666
        mov eax, [BIG + 0x1FF004]
        CHECK_EAX "2m-remap-before", 0x4444
        mov dword [PD2], BIG_PHYS2 | PG_PS | PG_W | PG_P
        invlpg [BIG + 0x1000]
        mov eax, [BIG + 0x1FF004]
        CHECK_EAX "invlpg-2m-whole-page", 0x6666
        mov dword [PD2], BIG_PHYS | PG_PS | PG_W | PG_P
        invlpg [BIG]
        test dword [cpuid_edx1], CPUID_PGE
        jz .no_pge
        ; Global pages: toggling CR4.PGE and INVLPG flush them.  (Whether a CR3 load
        ; keeps one is the processor's choice, so that is not checked.)
        mov eax, cr4
        or eax, CR4_PGE
        mov cr4, eax
        mov eax, [PAGE_G]
        CHECK_EAX "global-before", 0xAAAAAAAA
        mov dword [PT0 + (PAGE_G >> 12) * 8], FRAME_B | PG_G | PG_W | PG_P
        mov eax, cr4
        and eax, ~CR4_PGE
        mov cr4, eax
        or eax, CR4_PGE
        mov cr4, eax
        mov eax, [PAGE_G]
        CHECK_EAX "pge-toggle-flushes-global", 0xBBBBBBBB
        mov dword [PT0 + (PAGE_G >> 12) * 8], FRAME_A | PG_G | PG_W | PG_P
        invlpg [PAGE_G]
        mov eax, [PAGE_G]
        CHECK_EAX "invlpg-flushes-global", 0xAAAAAAAA
        mov eax, cr4
        and eax, ~CR4_PGE
        mov cr4, eax
.no_pge:

        ; ------------------------------------------------------------ above 4 GiB
        mov dword [LOW_ALIAS], 0x10101010
        EXPECT_OK "above-4g-write", mov dword [PAGE_HIGH], 0x12345678
        mov eax, [LOW_ALIAS]
        CHECK_EAX "above-4g-no-alias", 0x10101010
        mov eax, [PT0 + (PAGE_HIGH >> 12) * 8]
        CHECK_MASKED "above-4g-pte-dirty", PG_A | PG_D, PG_A | PG_D
        mov eax, [PT0 + (PAGE_HIGH >> 12) * 8 + 4]
        CHECK_EAX "above-4g-pte-high", 1
        mov dword [BIG_PHYS + 0x20], 0x20202020
        EXPECT_OK "above-4g-2m-write", mov dword [BIG_HIGH + 0x20], 0x87654321
        mov eax, [BIG_PHYS + 0x20]
        CHECK_EAX "above-4g-2m-no-alias", 0x20202020

        ; ------------------------------------------------------------ back to no paging
        mov eax, cr0
        and eax, 0x7FFFFFFF
        mov cr0, eax
        mov eax, cr4
        and eax, ~CR4_PAE
        mov cr4, eax
        ret

rom_word:
        dd 0x5041450A

; The tables listed in the header; everything else not present.
build_page_tables:
        mov edi, PAGE_TABLES
        mov ecx, 4 * 1024
        xor eax, eax
        rep stosd
        ; PDPT and the three others, which are like it but for one entry each.
        mov edi, PDPT
.pdpt:  mov dword [edi + 0 * 8], PD0 | PG_P
        mov dword [edi + 2 * 8], PD2 | PG_P
        add edi, 0x40
        cmp edi, PDPT_NP
        jbe .pdpt
        or dword [PDPT_BAD + 0 * 8], 2                  ; bit 1: reserved in a PDPTE
        or dword [PDPT_BAD_HI + 2 * 8 + 4], 1 << 4      ; bit 36: beyond 36 address bits
        mov dword [PDPT_NP + 1 * 8], 0x1E6              ; reserved bits, but not present
        mov dword [PDPT_NP + 1 * 8 + 4], 0xFFFFFFF0
        ; PD0: PT0, then 2 MiB pages.
        mov dword [PD0], PT0 | PG_U | PG_W | PG_P
        mov edi, PD0 + 8
        mov eax, SUP_2M | PG_PS | PG_W | PG_P           ; supervisor
        mov ecx, 7
.pde:   mov [edi], eax
        or eax, PG_U
        add eax, 0x200000
        add edi, 8
        loop .pde
        ; PT0: identity 0-2 MiB, user read/write.
        mov edi, PT0
        mov eax, PG_U | PG_W | PG_P
        mov ecx, 512
.pte:   mov [edi], eax
        add eax, 0x1000
        add edi, 8
        loop .pte
        mov dword [PT0 + (PAGE_RO_U >> 12) * 8], PAGE_RO_U | PG_U | PG_P
        mov dword [PT0 + (PAGE_SUP >> 12) * 8], PAGE_SUP | PG_W | PG_P
        mov dword [PT0 + (PAGE_X >> 12) * 8], FRAME_A | PG_U | PG_W | PG_P
        mov dword [PT0 + (PAGE_NP >> 12) * 8], 0
        or dword [PT0 + (PAGE_RSVD >> 12) * 8 + 4], 1 << 8     ; bit 40
        mov dword [PT0 + (PAGE_HIGH >> 12) * 8], LOW_ALIAS | PG_W | PG_P
        mov dword [PT0 + (PAGE_HIGH >> 12) * 8 + 4], 1
        mov dword [PT0 + (PAGE_G >> 12) * 8], FRAME_A | PG_G | PG_W | PG_P
        ; PD2.
        mov dword [PD2 + 0 * 8], BIG_PHYS | PG_PS | PG_W | PG_P
        mov dword [PD2 + 1 * 8], BIG_PHYS | (1 << 13) | PG_PS | PG_W | PG_P
        mov dword [PD2 + 2 * 8], BIG_PHYS | PG_PS | PG_W | PG_P
        mov dword [PD2 + 2 * 8 + 4], 1
        mov dword [PD2 + 3 * 8], PT0 | PG_W | PG_P
        mov dword [PD2 + 3 * 8 + 4], 1 << 30
        mov dword [PD2 + 4 * 8], PG_PS | PG_W | 0x1E000
        mov dword [PD2 + 4 * 8 + 4], 0xFFFFFFF0
        ret

guest_gdt:
guest_gdt_end:

        ROM_END
