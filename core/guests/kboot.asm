; kboot.asm - cycle86's direct kernel boot option ROM (cycle86 run --kernel).
;
; Written for cycle86; docs/kernel-boot.md describes the whole path.  core/kboot.py reads
; the kernel on the host, puts its pieces into QEMU's classic fw_cfg items and fills in the
; parameter block below before it hands this ROM to the firmware:
;
;   * SeaBIOS loads it from fw_cfg ("genroms/kboot.rom"), the Bochs BIOSes find it in the ISA
;     option ROM area (the first free 2 KiB boundary at or above C8000h).  Either way the
;     BIOS far-calls its init entry at offset 3 during POST.
;   * init hooks INT 19h (the bootstrap loader) and returns, so the BIOS finishes its POST
;     as usual: int 10h/13h/15h keep working for what runs next.
;   * When POST is over the BIOS calls INT 19h and lands in int19 below, which loads the
;     items into RAM with fw_cfg DMA (one transfer per item, straight to the physical
;     address, so real mode reaches above 1 MiB), reads the BIOS's memory map (int 15h
;     E820) and starts the kernel:
;       - Linux: the real-mode setup code in real mode at SEG+20h:0, DS=ES=FS=GS=SS=SEG,
;         as a 16-bit boot loader does [Documentation/arch/x86/boot.rst, "Running the
;         kernel"]; the setup code calls the BIOS itself (E820, video) and enters
;         protected mode on its own.  The ROM places the initrd as high as the memory map
;         and initrd_addr_max allow and writes ramdisk_image/ramdisk_size.
;       - Multiboot: fills mem_lower/mem_upper and the memory map into the boot
;         information, opens A20 and enters 32-bit protected mode with flat 4 GiB
;         segments, paging and interrupts off, EAX=2BADB002h, EBX=the boot information
;         [Multiboot Specification 0.6.96, 3.2 "Machine state"].
;
; Items (QEMU's selectors, fw_cfg.txt): SETUP_* (Linux: the real-mode code; Multiboot: the
; boot information), KERNEL_* (the protected-mode code / the kernel image), CMDLINE_*,
; INITRD_* (Linux: the initrd, ADDR 0 = "place it"; Multiboot: the modules, back to back).
; A size of 0 means "no such piece".  Needs a 386 (32-bit registers in real mode).
;
; Build: nasm -f bin -o core/guests/kboot.rom core/guests/kboot.asm
; (core/kboot.py sets the two checksums when it installs the image.)

        bits 16
        cpu 386
        org 0

ROM_BLOCKS      equ 4                   ; 2 KiB in 512-byte blocks

FW_SELECTOR     equ 0x510
FW_DATA         equ 0x511
FW_DMA_HIGH     equ 0x514
FW_DMA_LOW      equ 0x518
FW_SIGNATURE    equ 0x00
FW_ID           equ 0x01
FW_KERNEL_ADDR  equ 0x07
FW_KERNEL_SIZE  equ 0x08
FW_INITRD_ADDR  equ 0x0A
FW_INITRD_SIZE  equ 0x0B
FW_KERNEL_ENTRY equ 0x10
FW_KERNEL_DATA  equ 0x11
FW_INITRD_DATA  equ 0x12
FW_CMDLINE_ADDR equ 0x13
FW_CMDLINE_SIZE equ 0x14
FW_CMDLINE_DATA equ 0x15
FW_SETUP_ADDR   equ 0x16
FW_SETUP_SIZE   equ 0x17
FW_SETUP_DATA   equ 0x18

DMA_SELECT_READ equ 0x0A                ; FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ

KIND_LINUX      equ 1
KIND_MULTIBOOT  equ 2

STACK_TOP       equ 0x7C00              ; SS=0: the stack of the INT 19h handler
E820_BUF        equ 0x0500              ; one E820 entry, free low memory after POST
E820_MAX        equ 128                 ; entries asked for at most

; Multiboot boot information fields [Multiboot 0.6.96, 3.3]
MBI_FLAGS       equ 0
MBI_MEM_LOWER   equ 4
MBI_MEM_UPPER   equ 8
MBI_MMAP_LENGTH equ 44
MBI_MMAP_ADDR   equ 48
MBI_F_MEM       equ 1 << 0
MBI_F_MMAP      equ 1 << 6

; Linux setup header fields, from the start of the real-mode code [boot.rst]
LX_RAMDISK_IMAGE equ 0x218
LX_RAMDISK_SIZE  equ 0x21C

; ---------------------------------------------------------------- ROM header
rom_start:
        db 0x55, 0xAA, ROM_BLOCKS
        jmp init                        ; offset 3: the initialisation entry
        times 0x18 - ($ - $$) db 0
        dw 0                            ; 18h: no PCI data structure
        dw pnp_header                   ; 1Ah: the PnP expansion header
        times 0x20 - ($ - $$) db 0

; The PnP header makes SeaBIOS run init at POST (it initialises only PnP and VGA ROMs
; there); with no BEV and no BCV the ROM adds no boot device of its own.
pnp_header:
        db "$PnP"
        db 1                            ; structure revision
        db 2                            ; length in 16-byte units
        dw 0                            ; no next header
        db 0                            ; reserved
        db 0                            ; checksum (core/kboot.py sets it)
        dd 0                            ; device identifier
        dw manufacturer                 ; manufacturer string
        dw product                      ; product name string
        db 0, 0, 0                      ; device type code
        db 0                            ; device indicators
        dw 0                            ; boot connection vector: none
        dw 0                            ; disconnect vector: none
        dw 0                            ; bootstrap entry vector: none
        dw 0                            ; reserved
        dw 0                            ; static resource information vector

; ---------------------------------------------------------------- parameter block
; At offset 40h; core/kboot.py (PARAMS_OFFSET) writes it.  All zero in the built image,
; and then init does nothing.
        times 0x40 - ($ - $$) db 0
params:
p_magic         dd 0                    ; "C86K" when filled in
p_kind          dw 0                    ; KIND_LINUX or KIND_MULTIBOOT
p_sp            dw 0                    ; Linux: SP for the setup code
p_initrd_end    dd 0                    ; Linux: the initrd ends at or below this address
p_initrd_min    dd 0                    ; Linux: ... and starts at or above this one
p_need_top      dd 0                    ; the load needs RAM up to here (exclusive)
p_base          dd 0                    ; Linux: real-mode base; Multiboot: boot information
p_entry         dd 0                    ; Multiboot: the 32-bit entry point
p_mmap_addr     dd 0                    ; Multiboot: where the memory map goes ...
p_mmap_room     dd 0                    ; ... and how many bytes it may take
        times 0x80 - ($ - $$) db 0

; Variables, in low memory (SS = 0 in the INT 19h handler): the ROM may be read-only.
VAR_TOP         equ 0x0520              ; end of the RAM block at 1 MiB
VAR_MAP         equ 0x0524              ; bytes of the Multiboot memory map stored

; ---------------------------------------------------------------- POST: init
init:
        pushad
        push ds
        push es
        cmp dword [cs:p_magic], "C86K"
        jne .done
        call fw_present
        jne .done
        xor ax, ax
        mov ds, ax
        mov word [0x19 * 4], int19      ; the bootstrap loader is ours now
        mov [0x19 * 4 + 2], cs
.done:  pop es
        pop ds
        popad
        retf

; ZF=1 when the fw_cfg signature "QEMU" answers at the selector/data ports.
fw_present:
        mov ax, FW_SIGNATURE
        call fw_read32
        cmp eax, "QEMU"
        ret

; ---------------------------------------------------------------- INT 19h: boot
int19:
        cli
        cld
        xor ax, ax
        mov ss, ax
        mov sp, STACK_TOP
        push cs
        pop ds
        sti
        call fw_present
        mov si, msg_no_fwcfg
        jne fail
        mov ax, FW_ID
        call fw_read32
        test al, 2                      ; FW_CFG_VERSION_DMA
        mov si, msg_no_dma
        jz fail

        ; The pieces whose address core/kboot.py fixed.
        mov bx, FW_SETUP_ADDR
        mov si, FW_SETUP_DATA
        call load_item
        mov bx, FW_KERNEL_ADDR
        mov si, FW_KERNEL_DATA
        call load_item
        mov bx, FW_CMDLINE_ADDR
        mov si, FW_CMDLINE_DATA
        call load_item

        call memory_map                 ; EDX = top of the RAM block at 1 MiB
        mov [ss:VAR_TOP], edx
        mov si, msg_no_ram
        cmp edx, [p_need_top]
        jb fail

        cmp word [p_kind], KIND_LINUX
        je linux
        cmp word [p_kind], KIND_MULTIBOOT
        je multiboot
        mov si, msg_bad_kind
        jmp fail

; ---------------------------------------------------------------- Linux
linux:
        mov ax, FW_INITRD_SIZE
        call fw_read32
        test eax, eax
        jz .go
        mov ecx, eax                    ; ECX = initrd size
        mov edx, [ss:VAR_TOP]
        cmp edx, [p_initrd_end]
        jbe .capped
        mov edx, [p_initrd_end]
.capped:
        mov si, msg_initrd
        sub edx, ecx
        jb fail
        and edx, 0xFFFFF000             ; page aligned, as high as it goes
        cmp edx, [p_initrd_min]
        jb fail
        mov edi, edx
        mov ax, FW_INITRD_DATA
        call dma_read
        mov eax, [p_base]
        shr eax, 4
        mov es, ax
        mov [es:LX_RAMDISK_IMAGE], edi
        mov [es:LX_RAMDISK_SIZE], ecx
.go:
        mov eax, [p_base]
        shr eax, 4                      ; the real-mode base as a segment
        mov bx, [p_sp]
        cli
        mov ds, ax
        mov es, ax
        mov fs, ax
        mov gs, ax
        mov ss, ax
        mov sp, bx
        add ax, 0x20
        push ax
        push word 0
        retf                            ; SEG+20h:0000, the setup code's entry

; ---------------------------------------------------------------- Multiboot
multiboot:
        mov bx, FW_INITRD_ADDR          ; the modules
        mov si, FW_INITRD_DATA
        call load_item
        mov eax, [p_base]
        shr eax, 4
        mov es, ax                      ; ES = the boot information (below 1 MiB)
        int 0x12                        ; KiB of conventional memory
        movzx eax, ax
        mov [es:MBI_MEM_LOWER], eax
        mov eax, [ss:VAR_TOP]
        sub eax, 0x100000
        shr eax, 10
        mov [es:MBI_MEM_UPPER], eax
        or dword [es:MBI_FLAGS], MBI_F_MEM
        mov eax, [ss:VAR_MAP]
        mov [es:MBI_MMAP_LENGTH], eax
        test eax, eax
        jnz .map
        and dword [es:MBI_FLAGS], ~MBI_F_MMAP
.map:
        mov ax, 0x2401                  ; A20 on through the BIOS ...
        int 0x15
        in al, 0x92                     ; ... and through port 92h (never the reset bit)
        or al, 2
        and al, 0xFE
        out 0x92, al

        mov ebx, [p_base]               ; EBX = boot information, ESI = entry
        mov esi, [p_entry]
        xor eax, eax
        mov ax, cs
        shl eax, 4                      ; EAX = this ROM's linear address
        cli
        sub sp, 16
        mov bp, sp
        mov word [bp], gdt_end - gdt - 1
        lea edx, [eax + gdt]
        mov [bp + 2], edx
        lea edx, [eax + pm32]
        mov [bp + 8], edx
        mov word [bp + 12], 0x08
        o32 lgdt [bp]
        mov eax, cr0
        or al, 1
        mov cr0, eax
        jmp dword far [bp + 8]

        bits 32
pm32:
        mov ax, 0x10
        mov ds, ax
        mov es, ax
        mov fs, ax
        mov gs, ax
        mov ss, ax
        mov esp, STACK_TOP
        mov eax, 0x2BADB002
        jmp esi
        bits 16

; ---------------------------------------------------------------- helpers
; load_item: BX = the ADDR item of a piece (its SIZE item is BX+1), SI = its DATA item:
; DMA the piece to its address unless its size is 0.
load_item:
        mov ax, bx
        call fw_read32
        mov edi, eax
        lea ax, [bx + 1]
        call fw_read32
        mov ecx, eax
        jecxz .none
        mov ax, si
        call dma_read
.none:  ret

; fw_read32: AX = selector -> EAX = the item's first 4 bytes (little-endian), via the
; selector and data ports.  Clobbers CX, DX.
fw_read32:
        mov dx, FW_SELECTOR
        out dx, ax
        inc dx
        mov cx, 4
.byte:  in al, dx
        ror eax, 8                      ; the first byte ends up in bits 7..0
        loop .byte
        ret

; dma_read: AX = item, ECX = length, EDI = physical address.  One fw_cfg DMA transfer
; (select + read) with its access structure on the stack; fails loudly on an error.
dma_read:
        pushad
        sub sp, 16
        mov bp, sp
        movzx eax, ax
        shl eax, 16
        mov al, DMA_SELECT_READ
        call bswap_eax
        mov [bp], eax                   ; be32 control
        mov eax, ecx
        call bswap_eax
        mov [bp + 4], eax               ; be32 length
        mov dword [bp + 8], 0           ; be64 address, high half
        mov eax, edi
        call bswap_eax
        mov [bp + 12], eax              ; ... low half
        xor eax, eax
        mov dx, FW_DMA_HIGH
        out dx, eax                     ; the structure is below 4 GiB
        movzx eax, bp                   ; SS = 0: BP is its physical address
        call bswap_eax
        mov dx, FW_DMA_LOW
        out dx, eax                     ; starts the transfer
.wait:  mov eax, [bp]
        and eax, 0xFEFFFFFF             ; everything but the error bit (bit 0, byte 3)
        jnz .wait
        test byte [bp + 3], 1
        mov si, msg_dma_error
        jnz fail
        add sp, 16
        popad
        ret

; bswap_eax: EAX byte-reversed (BSWAP is a 486 instruction; this runs on a 386).
bswap_eax:
        xchg al, ah
        rol eax, 16
        xchg al, ah
        ret

; memory_map: walk int 15h E820.  EDX = the end of the usable RAM block that holds 1 MiB.
; For a Multiboot kernel each entry is also stored into the boot information's memory
; map ({u32 size = 20, u64 base, u64 length, u32 type}, as far as p_mmap_room allows),
; and VAR_MAP counts the bytes stored.  Without E820, int 15h AH=88h gives the top.
memory_map:
        mov dword [ss:VAR_TOP], 0
        mov dword [ss:VAR_MAP], 0
        xor ebx, ebx
        mov bp, E820_MAX
.next:  xor ax, ax
        mov es, ax
        mov di, E820_BUF
        mov dword [es:di + 20], 1       ; ACPI 3.0 extended attributes: "valid"
        mov eax, 0xE820
        mov edx, 0x534D4150             ; "SMAP"
        mov ecx, 24
        int 0x15
        jc .end
        cmp eax, 0x534D4150
        jne .end
        cmp ecx, 20
        jb .end
        push ebx
        call .entry
        pop ebx
        test ebx, ebx
        jz .end
        dec bp
        jnz .next
.end:   mov edx, [ss:VAR_TOP]
        test edx, edx
        jnz .ret
        mov ah, 0x88                    ; no E820: KiB above 1 MiB
        int 0x15
        movzx edx, ax
        shl edx, 10
        add edx, 0x100000
.ret:   ret

; One E820 entry at 0:E820_BUF.
.entry: cmp word [p_kind], KIND_MULTIBOOT
        jne .top
        mov eax, [ss:VAR_MAP]
        add eax, 24
        cmp eax, [p_mmap_room]
        ja .top
        mov edi, [p_mmap_addr]
        add edi, [ss:VAR_MAP]
        mov eax, edi
        shr eax, 4
        mov es, ax
        and di, 0x0F                    ; ES:DI = the next memory map entry
        mov dword [es:di], 20
        add di, 4
        push ds
        xor ax, ax
        mov ds, ax
        mov si, E820_BUF
        mov cx, 20
        rep movsb
        pop ds
        add dword [ss:VAR_MAP], 24
.top:   xor ax, ax
        mov es, ax
        cmp dword [es:E820_BUF + 16], 1 ; usable RAM ...
        jne .skip
        cmp dword [es:E820_BUF + 4], 0  ; ... starting below 4 GiB ...
        jne .skip
        mov eax, [es:E820_BUF]
        cmp eax, 0x100000               ; ... at or below 1 MiB ...
        ja .skip
        mov edx, [es:E820_BUF + 8]
        mov ecx, [es:E820_BUF + 12]
        add edx, eax
        adc ecx, 0
        jz .end_ok
        mov edx, 0xFFFFF000             ; it ends at or above 4 GiB
.end_ok:
        cmp edx, 0x100000               ; ... and ending above it
        jbe .skip
        mov [ss:VAR_TOP], edx
.skip:  ret

; fail: DS:SI = the message.  Print it on the screen and on port E9h, then stop.
fail:
        push si
        mov si, msg_prefix
        call print
        pop si
        call print
        mov si, msg_crlf
        call print
.halt:  cli
        hlt
        jmp .halt

print:  lodsb
        test al, al
        jz .done
        out 0xE9, al
        push si
        mov ah, 0x0E
        mov bx, 0x0007
        int 0x10
        pop si
        jmp print
.done:  ret

; ---------------------------------------------------------------- data
        align 8
gdt:    dq 0
        dw 0xFFFF, 0x0000               ; 08h: code, base 0, limit 4 GiB, 32-bit
        db 0x00, 0x9B, 0xCF, 0x00       ; (marked accessed: the ROM may be read-only)
        dw 0xFFFF, 0x0000               ; 10h: data, base 0, limit 4 GiB, read/write
        db 0x00, 0x93, 0xCF, 0x00
gdt_end:

manufacturer:   db "cycle86", 0
product:        db "direct kernel boot", 0
msg_prefix:     db "cycle86 kernel boot: ", 0
msg_crlf:       db 13, 10, 0
msg_no_fwcfg:   db "no fw_cfg device at port 510h", 0
msg_no_dma:     db "fw_cfg offers no DMA interface", 0
msg_dma_error:  db "fw_cfg DMA transfer failed", 0
msg_no_ram:     db "the kernel does not fit in the RAM the BIOS reports", 0
msg_initrd:     db "the initrd does not fit below initrd_addr_max and the top of RAM", 0
msg_bad_kind:   db "bad parameter block", 0

        times ROM_BLOCKS * 512 - 1 - ($ - $$) db 0
        db 0                            ; checksum byte (core/kboot.py sets it)
