; multiboot.asm - a Multiboot kernel that prints the boot information it was given.
;
; Written for cycle86's direct kernel boot tests (tests/test_kernel_boot.py).  Built two
; ways from this one source:
;
;   nasm -f bin -o multiboot.elf  multiboot.asm           an ELF32 executable (one PT_LOAD
;                                                         segment at 1 MiB, with a .bss)
;   nasm -f bin -DAOUT -o multiboot.bin multiboot.asm     a flat image with the a.out
;                                                         kludge (header flag 16)
;
; Everything goes to port E9h, one field per line; then isa-debug-exit with EXIT_VALUE.
; It checks the machine state of the Multiboot Specification 0.6.96, 3.2: EAX holds the
; magic, CR0.PE set and PG clear, IF clear, A20 open, flat 4 GiB segments (its data
; accesses above 1 MiB through DS and SS work).

        bits 32
        cpu 386

LOAD_ADDR       equ 0x200000          ; 2 MiB: 1 MiB..2 MiB stays free for the A20 check
MB_MAGIC        equ 0x1BADB002
%ifdef AOUT
MB_FLAGS        equ 0x00010003          ; page-aligned modules, memory info, a.out kludge
%else
MB_FLAGS        equ 0x00000003
%endif
EXIT_VALUE      equ 0x21                ; exit status (0x21 << 1) | 1 = 67
BSS_SIZE        equ 0x2000
ZERO_SIZE       equ 0x1000

        org LOAD_ADDR
file_start:

%ifndef AOUT
; ---------------------------------------------------------------- ELF header and PHDR
        db 0x7F, "ELF", 1, 1, 1, 0      ; ELFCLASS32, little-endian, version 1
        times 8 db 0
        dw 2                            ; ET_EXEC
        dw 3                            ; EM_386
        dd 1                            ; EV_CURRENT
        dd start                        ; e_entry
        dd phdr - file_start            ; e_phoff
        dd 0                            ; e_shoff: no section headers
        dd 0                            ; e_flags
        dw 52                           ; e_ehsize
        dw 32                           ; e_phentsize
        dw 1                            ; e_phnum
        dw 0, 0, 0                      ; no sections
phdr:   dd 1                            ; PT_LOAD
        dd 0                            ; p_offset: the whole file ...
        dd LOAD_ADDR                    ; p_vaddr
        dd LOAD_ADDR                    ; p_paddr ... at 1 MiB
        dd file_end - file_start        ; p_filesz
        dd bss_end - file_start         ; p_memsz (the rest is .bss)
        dd 7                            ; PF_R | PF_W | PF_X
        dd 0x1000
%endif

; ---------------------------------------------------------------- Multiboot header
        align 4
mb_header:
        dd MB_MAGIC
        dd MB_FLAGS
        dd -(MB_MAGIC + MB_FLAGS)
%ifdef AOUT
        dd mb_header                    ; header_addr
        dd file_start                   ; load_addr
        dd file_end                     ; load_end_addr
        dd bss_end                      ; bss_end_addr
        dd start                        ; entry_addr
%endif

; ---------------------------------------------------------------- the kernel
start:
        mov [boot_magic], eax           ; before anything touches EAX
        mov [boot_info], ebx
        pushfd
        pop dword [boot_eflags]
        mov eax, cr0
        mov [boot_cr0], eax
        mov esp, stack_top

        mov esi, s_banner
        call puts
        mov esi, s_magic
        mov eax, [boot_magic]
        call field_hex
        mov ebx, [boot_info]
        mov esi, s_flags
        mov eax, [ebx + 0]
        call field_hex

        ; machine state
        mov esi, s_state_pe
        call puts
        mov eax, [boot_cr0]
        and eax, 1
        call putdec
        mov esi, s_state_pg
        call puts
        mov eax, [boot_cr0]
        shr eax, 31
        call putdec
        mov esi, s_state_if
        call puts
        mov eax, [boot_eflags]
        shr eax, 9
        and eax, 1
        call putdec
        mov esi, s_state_a20
        call puts
        mov dword [0x000600], 0x11111111    ; A20 open: these are two different bytes
        mov dword [0x100600], 0x22222222
        xor eax, eax
        cmp dword [0x000600], 0x11111111
        sete al
        call putdec
        mov esi, s_state_bss
        call puts
        mov edi, zero_area
        mov ecx, ZERO_SIZE / 4
        xor eax, eax
        repe scasd
        sete al
        call putdec
        call newline

        mov ebx, [boot_info]
        test dword [ebx + 0], 1 << 0
        jz .no_mem
        mov esi, s_mem_lower
        mov eax, [ebx + 4]
        call field_dec
        mov esi, s_mem_upper
        mov eax, [ebx + 8]
        call field_dec
.no_mem:
        test dword [ebx + 0], 1 << 1
        jz .no_bootdev
        mov esi, s_boot_device
        mov eax, [ebx + 12]
        call field_hex
.no_bootdev:
        test dword [ebx + 0], 1 << 2
        jz .no_cmdline
        mov esi, s_cmdline
        call puts
        mov esi, [ebx + 16]
        call puts
        call newline
.no_cmdline:
        test dword [ebx + 0], 1 << 3
        jz .no_mods
        mov esi, s_mods_count
        mov eax, [ebx + 20]
        call field_dec
        mov ecx, [ebx + 20]
        mov edi, [ebx + 24]
        xor edx, edx
.mod:   test ecx, ecx
        jz .no_mods
        mov esi, s_mod
        call puts
        mov eax, edx
        call putdec
        mov esi, s_start
        call puts
        mov eax, [edi]
        call puthex
        mov esi, s_end
        call puts
        mov eax, [edi + 4]
        call puthex
        mov esi, s_bytes
        call puts
        push ecx
        mov esi, [edi]
        mov ecx, 8
.byte:  lodsb
        call puthex8
        dec ecx
        jz .bytes_done
        mov al, ' '
        call putc
        jmp .byte
.bytes_done:
        pop ecx
        mov esi, s_string
        call puts
        mov esi, [edi + 8]
        call puts
        call newline
        add edi, 16
        inc edx
        dec ecx
        jmp .mod
.no_mods:
        test dword [ebx + 0], 1 << 6
        jz .no_mmap
        mov esi, s_mmap_length
        mov eax, [ebx + 44]
        call field_dec
        mov edi, [ebx + 48]
        mov ebp, edi
        add ebp, [ebx + 44]             ; EBP = end of the map
.entry: cmp edi, ebp
        jae .no_mmap
        mov esi, s_mmap
        call puts
        mov eax, [edi + 8]              ; base, high then low
        call puthex
        mov eax, [edi + 4]
        call puthex
        mov esi, s_length
        call puts
        mov eax, [edi + 16]
        call puthex
        mov eax, [edi + 12]
        call puthex
        mov esi, s_type
        call puts
        mov eax, [edi + 20]
        call putdec
        call newline
        mov eax, [edi]
        lea edi, [edi + eax + 4]        ; size does not count itself
        jmp .entry
.no_mmap:
        test dword [ebx + 0], 1 << 9
        jz .no_loader
        mov esi, s_loader
        call puts
        mov esi, [ebx + 64]
        call puts
        call newline
.no_loader:
        mov esi, s_done
        call puts
        mov al, EXIT_VALUE
        out 0xF4, al
.hang:  hlt
        jmp .hang

; ---------------------------------------------------------------- output
; field_hex / field_dec: ESI = label; EAX = value; one line.
field_hex:
        call puts
        call puthex
        jmp newline
field_dec:
        call puts
        call putdec
        jmp newline

newline:
        mov al, 10
putc:   out 0xE9, al
        ret

puts:   push eax
.next:  lodsb
        test al, al
        jz .done
        call putc
        jmp .next
.done:  pop eax
        ret

puthex: push ecx
        mov ecx, 8
.digit: rol eax, 4
        push eax
        call nibble
        pop eax
        dec ecx
        jnz .digit
        pop ecx
        ret
puthex8:
        push eax
        shr al, 4
        call nibble
        pop eax
nibble: push eax
        and al, 0x0F
        add al, '0'
        cmp al, '9'
        jbe .out
        add al, 'A' - '0' - 10
.out:   call putc
        pop eax
        ret

putdec: push eax
        push ecx
        push edx
        mov ecx, 10
        push dword -1
.div:   xor edx, edx
        div ecx
        push edx
        test eax, eax
        jnz .div
.print: pop eax
        cmp eax, -1
        je .end
        add al, '0'
        call putc
        jmp .print
.end:   pop edx
        pop ecx
        pop eax
        ret

; ---------------------------------------------------------------- data
s_banner:       db "multiboot guest", 10, 0
s_magic:        db "magic=", 0
s_flags:        db "flags=", 0
s_state_pe:     db "state: pe=", 0
s_state_pg:     db " pg=", 0
s_state_if:     db " if=", 0
s_state_a20:    db " a20=", 0
s_state_bss:    db " bss_zero=", 0
s_mem_lower:    db "mem_lower=", 0
s_mem_upper:    db "mem_upper=", 0
s_boot_device:  db "boot_device=", 0
s_cmdline:      db "cmdline=", 0
s_mods_count:   db "mods_count=", 0
s_mod:          db "mod ", 0
s_start:        db " start=", 0
s_end:          db " end=", 0
s_bytes:        db " bytes=", 0
s_string:       db " string=", 0
s_mmap_length:  db "mmap_length=", 0
s_mmap:         db "mmap base=", 0
s_length:       db " length=", 0
s_type:         db " type=", 0
s_loader:       db "loader=", 0
s_done:         db "done", 10, 0

        align 4
file_end:

; ---------------------------------------------------------------- .bss (not in the file)
        absolute file_end
boot_magic      resd 1
boot_info       resd 1
boot_eflags     resd 1
boot_cr0        resd 1
zero_area       resb ZERO_SIZE          ; never written: must read as zeros
                resb BSS_SIZE           ; the stack
stack_top:
bss_end:
