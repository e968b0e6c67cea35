; fake_bzimage.asm - a stand-in for a Linux bzImage that prints what its boot loader gave it.
;
; Written for cycle86's direct kernel boot tests (tests/test_kernel_boot.py):
;     nasm -f bin -o fake_bzimage fake_bzimage.asm
;
; The file has the shape of a bzImage [Documentation/arch/x86/boot.rst]: a boot sector whose
; last bytes hold the first part of the setup header, SETUP_SECTS sectors of real-mode
; setup code with the rest of the header ("HdrS", protocol 2.15) at 0x202, then the
; protected-mode part, which a boot loader puts at 1 MiB.  Like the real setup code, the
; real-mode part is entered at SEG+20h:0 with DS=ES=SS=SEG, calls the BIOS (int 15h E820),
; switches to 32-bit protected mode and jumps to code32_start with ESI pointing to the
; real-mode base (where boot_params are).  Each part prints its findings on port E9h, and
; the protected-mode part ends through isa-debug-exit with EXIT_VALUE.
;
; initrd_addr_max is 16 MiB - 1, below the RAM the tests give, so the initrd placement
; must honour it.

        cpu 386

SETUP_SECTS     equ 2
PM_BASE         equ 0x100000
EXIT_VALUE      equ 0x2B                ; exit status (0x2B << 1) | 1 = 87
INITRD_ADDR_MAX equ 0x00FFFFFF
CMDLINE_SIZE    equ 0x7FF

        section setup start=0 vstart=0
        bits 16
; ---------------------------------------------------------------- boot sector
bootsect:
        cli                             ; not a boot sector for a BIOS: stop if booted
        hlt
        jmp bootsect
        times 0x1F1 - ($ - $$) db 0
hdr_setup_sects:        db SETUP_SECTS
hdr_root_flags:         dw 0
hdr_syssize:            dd (pm_end - pm_start) / 16
hdr_ram_size:           dw 0
hdr_vid_mode:           dw 0xFFFF
hdr_root_dev:           dw 0
hdr_boot_flag:          dw 0xAA55
; ---------------------------------------------------------------- setup header (0x200)
hdr_jump:               jmp short setup_entry
hdr_header:             db "HdrS"
hdr_version:            dw 0x020F
hdr_realmode_swtch:     dd 0
hdr_start_sys_seg:      dw 0x1000
hdr_kernel_version:     dw 0
hdr_type_of_loader:     db 0
hdr_loadflags:          db 0x01         ; LOADED_HIGH
hdr_setup_move_size:    dw 0x8000
hdr_code32_start:       dd PM_BASE
hdr_ramdisk_image:      dd 0
hdr_ramdisk_size:       dd 0
hdr_bootsect_kludge:    dd 0
hdr_heap_end_ptr:       dw 0
hdr_ext_loader_ver:     db 0
hdr_ext_loader_type:    db 0
hdr_cmd_line_ptr:       dd 0
hdr_initrd_addr_max:    dd INITRD_ADDR_MAX
hdr_kernel_alignment:   dd 0x100000
hdr_relocatable_kernel: db 1
hdr_min_alignment:      db 12
hdr_xloadflags:         dw 0
hdr_cmdline_size:       dd CMDLINE_SIZE
hdr_hardware_subarch:   dd 0
hdr_subarch_data:       dq 0
hdr_payload_offset:     dd 0
hdr_payload_length:     dd 0
hdr_setup_data:         dq 0
hdr_pref_address:       dq PM_BASE
hdr_init_size:          dd 0x20000
hdr_handover_offset:    dd 0
hdr_kernel_info_offset: dd 0

; ---------------------------------------------------------------- real-mode setup
setup_entry:
        mov [entry_sp], sp              ; (DS = SEG: the header is addressable)
        mov [entry_ss], ss
        mov [entry_cs], cs
        push ds
        push word .flat
        retf                            ; CS = DS = SEG from here on: offsets are file offsets
.flat:  cld
        mov si, s_setup
        call puts
        mov si, s_cs
        mov ax, [entry_cs]
        call field16
        mov si, s_ds
        mov ax, ds
        call field16
        mov si, s_ss
        mov ax, [entry_ss]
        call field16
        mov si, s_sp
        mov ax, [entry_sp]
        call field16
        mov si, s_type_of_loader
        mov al, [hdr_type_of_loader]
        call field8
        mov si, s_loadflags
        mov al, [hdr_loadflags]
        call field8
        mov si, s_heap_end_ptr
        mov ax, [hdr_heap_end_ptr]
        call field16
        mov si, s_vid_mode
        mov ax, [hdr_vid_mode]
        call field16
        mov si, s_cmd_line_ptr
        mov eax, [hdr_cmd_line_ptr]
        call field32
        mov si, s_cmdline               ; the command line, through a segment of its own
        call puts
        mov eax, [hdr_cmd_line_ptr]
        mov bx, ax
        and bx, 0x0F
        shr eax, 4
        push ds
        mov ds, ax
        mov si, bx
        call puts
        pop ds
        call newline
        mov si, s_ramdisk_image
        mov eax, [hdr_ramdisk_image]
        call field32
        mov si, s_ramdisk_size
        mov eax, [hdr_ramdisk_size]
        call field32

        ; The BIOS still answers: count the E820 entries.
        xor ebx, ebx
        xor bp, bp
.e820:  push ds
        pop es
        mov di, e820_buf
        mov eax, 0xE820
        mov edx, 0x534D4150
        mov ecx, 20
        int 0x15
        jc .e820_done
        cmp eax, 0x534D4150
        jne .e820_done
        inc bp
        test ebx, ebx
        jnz .e820
.e820_done:
        mov si, s_e820
        mov ax, bp
        call field16

        ; Protected mode, as the real setup code does it.
        cli
        in al, 0x92
        or al, 2
        and al, 0xFE
        out 0x92, al
        xor eax, eax
        mov ax, ds
        shl eax, 4
        mov esi, eax                    ; ESI = the real-mode base (boot_params)
        add [gdt_desc + 2], eax         ; the GDT's linear address
        o32 lgdt [gdt_desc]
        mov ecx, [hdr_code32_start]
        mov [pm_jump], ecx
        mov eax, cr0
        or al, 1
        mov cr0, eax
        jmp dword far [pm_jump]

; field8/16/32: SI = label, AL/AX/EAX = value: "label=HEX\n".
field8: call puts
        call hex8
        jmp newline
field16:
        call puts
        call hex16
        jmp newline
field32:
        call puts
        push eax
        shr eax, 16
        call hex16
        pop eax
        call hex16
        jmp newline

newline:
        mov al, 10
putc:   out 0xE9, al
        ret
puts:   push ax
.next:  lodsb
        test al, al
        jz .done
        call putc
        jmp .next
.done:  pop ax
        ret
hex16:  push ax
        mov al, ah
        call hex8
        pop ax
hex8:   push ax
        shr al, 4
        call nibble
        pop ax
nibble: push ax
        and al, 0x0F
        add al, '0'
        cmp al, '9'
        jbe .out
        add al, 'A' - '0' - 10
.out:   call putc
        pop ax
        ret

s_setup:          db "fake bzImage setup", 10, 0
s_cs:             db "cs=", 0
s_ds:             db "ds=", 0
s_ss:             db "ss=", 0
s_sp:             db "sp=", 0
s_type_of_loader: db "type_of_loader=", 0
s_loadflags:      db "loadflags=", 0
s_heap_end_ptr:   db "heap_end_ptr=", 0
s_vid_mode:       db "vid_mode=", 0
s_cmd_line_ptr:   db "cmd_line_ptr=", 0
s_cmdline:        db "cmdline=", 0
s_ramdisk_image:  db "ramdisk_image=", 0
s_ramdisk_size:   db "ramdisk_size=", 0
s_e820:           db "e820_entries=", 0

        align 8
gdt:    dq 0
        dw 0xFFFF, 0, 0x9B00, 0x00CF    ; 08h: flat 32-bit code
        dw 0xFFFF, 0, 0x9300, 0x00CF    ; 10h: flat data
gdt_desc:
        dw 3 * 8 - 1
        dd gdt                          ; + the real-mode base, at run time
pm_jump:
        dd 0
        dw 0x08
entry_sp: dw 0
entry_ss: dw 0
entry_cs: dw 0
e820_buf: times 20 db 0

        times (SETUP_SECTS + 1) * 512 - ($ - $$) db 0

; ---------------------------------------------------------------- protected mode, at 1 MiB
        section pm follows=setup vstart=PM_BASE
        bits 32
pm_start:
        mov ax, 0x10
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov esp, 0x90000
        call .here
.here:  pop eax
        sub eax, .here - pm_start       ; where this code runs
        mov edi, s_pm_entry
        call pfield32
        mov edi, s_pm_esi
        mov eax, esi
        call pfield32
        mov ebx, [esi + 0x218]          ; ramdisk_image
        mov ecx, [esi + 0x21C]          ; ramdisk_size
        mov edi, s_pm_initrd
        call pputs
        push ecx
        mov edx, ebx
        mov ecx, 8
.byte:  mov al, [edx]
        call phex8
        inc edx
        dec ecx
        jz .bytes_done
        mov al, ' '
        call pputc
        jmp .byte
.bytes_done:
        pop ecx
        call pnewline
        xor eax, eax                    ; additive checksum of the whole initrd
        xor edx, edx
.sum:   jecxz .summed
        mov dl, [ebx]
        add eax, edx
        inc ebx
        dec ecx
        jmp .sum
.summed:
        mov edi, s_pm_sum
        call pfield32
        mov edi, s_pm_done
        call pputs
        mov al, EXIT_VALUE
        out 0xF4, al
.hang:  hlt
        jmp .hang

pfield32:
        call pputs
        push eax
        shr eax, 16
        call phex16
        pop eax
        call phex16
pnewline:
        mov al, 10
pputc:  out 0xE9, al
        ret
pputs:  push eax
.next:  mov al, [edi]
        inc edi
        test al, al
        jz .done
        call pputc
        jmp .next
.done:  pop eax
        ret
phex16: push eax
        mov al, ah
        call phex8
        pop eax
phex8:  push eax
        shr al, 4
        call pnibble
        pop eax
pnibble:
        push eax
        and al, 0x0F
        add al, '0'
        cmp al, '9'
        jbe .out
        add al, 'A' - '0' - 10
.out:   call pputc
        pop eax
        ret

s_pm_entry:     db "pm entry=", 0
s_pm_esi:       db "pm esi=", 0
s_pm_initrd:    db "pm initrd bytes=", 0
s_pm_sum:       db "pm initrd sum=", 0
s_pm_done:      db "pm done", 10, 0
        align 16, db 0
pm_end:
