"""Boot media for the firmware boot tests: a NASM boot sector, and floppy, hard disk and
El Torito CD-ROM images built around it in Python."""
import struct

from tests.asm import nasm

BOOT_MESSAGE = "cycle86 boot sector OK"
EXIT_VALUE = 0x2A                      # isa-debug-exit status (0x2A << 1) | 1 = 85
EXIT_STATUS = (EXIT_VALUE << 1) | 1

# The boot sector: prints a line through the BIOS (int 10h, AH=0Eh teletype) and on the
# Bochs console port 0xE9, with the boot drive the BIOS passed in DL, then exits through
# QEMU's isa-debug-exit.  Everything is addressed from segment 0 so the same code runs
# whether the BIOS jumps to 0000:7C00 or, for a CD-ROM, to 07C0:0000.
BOOT_SECTOR_ASM = r"""
        cli
        xor ax, ax
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov sp, 0x7C00
        sti
        cld
        mov [0x7C00 + drive - start], dl
        mov si, 0x7C00 + message - start
        call print
        mov al, [0x7C00 + drive - start]
        call hex8
        mov si, 0x7C00 + crlf - start
        call print
        mov al, %d
        out 0xF4, al
.hang:  hlt
        jmp .hang

print:  lodsb                   ; DS:SI -> NUL-terminated text
        test al, al
        jz .done
        call putc
        jmp print
.done:  ret

hex8:   push ax
        shr al, 4
        call nibble
        pop ax
nibble: and al, 0x0F
        add al, '0'
        cmp al, '9'
        jbe putc
        add al, 'A' - '0' - 10
putc:   out 0xE9, al
        push si
        mov ah, 0x0E
        mov bx, 0x0007
        int 0x10
        pop si
        ret

message: db "%s dl=", 0
crlf:    db 13, 10, 0
drive:   db 0
        times 510 - ($ - start) db 0
        dw 0xAA55
"""


def boot_sector():
    source = "start:\n" + BOOT_SECTOR_ASM % (EXIT_VALUE, BOOT_MESSAGE)
    code = nasm(source)
    assert len(code) == 512 and code[510:] == b"\x55\xAA"
    return code


def floppy_image(sector, size=1474560):
    """A 1.44 MB floppy whose boot sector is `sector`."""
    return sector + bytes(size - len(sector))


def disk_image(sector, cylinders=4, heads=16, spt=63):
    """A hard disk of whole cylinders (16 heads, 63 sectors) with `sector` as its MBR
    (one active partition entry, so a BIOS that looks for one finds it)."""
    mbr = bytearray(sector)
    entry = struct.pack("<B3sB3sII", 0x80, b"\x01\x01\x00", 0x01, b"\xFE\xFF\xFF",
                        spt, cylinders * heads * spt - spt)
    mbr[446:462] = entry
    return bytes(mbr) + bytes(cylinders * heads * spt * 512 - 512)


def _both16(v):
    return struct.pack("<H", v) + struct.pack(">H", v)


def _both32(v):
    return struct.pack("<I", v) + struct.pack(">I", v)


def _dir_record(lba, size, flags, name=b"\x00"):
    rec = struct.pack("<BB", 33 + len(name) + (len(name) + 1) % 2, 0)
    rec += _both32(lba) + _both32(size)
    rec += bytes([125, 1, 1, 0, 0, 0, 0])          # 2025-01-01 00:00:00 GMT
    rec += bytes([flags, 0, 0]) + _both16(1) + bytes([len(name)]) + name
    if len(rec) % 2:
        rec += b"\0"
    return rec


def iso_image(sector):
    """An ISO 9660 image with an El Torito no-emulation boot entry loading `sector`
    (4 virtual 512-byte sectors at the default segment 07C0h) [El Torito 1.0, 2.0-2.5]."""
    S = 2048
    boot_catalog_lba, boot_image_lba, root_lba, path_lba = 19, 20, 21, 22
    total = 32
    image = bytearray(total * S)
    # Primary volume descriptor (sector 16) [ECMA-119, 8.4]
    pvd = bytearray(S)
    pvd[0:7] = b"\x01CD001\x01"
    pvd[8:40] = b"CYCLE86".ljust(32)
    pvd[40:72] = b"CYCLE86_BOOT".ljust(32)
    pvd[80:88] = _both32(total)
    pvd[120:124] = _both16(1)
    pvd[124:128] = _both16(1)
    pvd[128:132] = _both16(S)
    pvd[132:140] = _both32(10)
    pvd[140:144] = struct.pack("<I", path_lba)
    pvd[148:152] = struct.pack(">I", path_lba + 1)
    pvd[156:190] = _dir_record(root_lba, S, 0x02)
    for off, length in ((190, 128), (318, 128), (446, 128), (574, 128), (702, 37),
                        (739, 37), (776, 37)):
        pvd[off:off + length] = b" " * length
    for off in (813, 830, 847, 864):
        pvd[off:off + 17] = b"0" * 16 + b"\0"
    pvd[881] = 1
    image[16 * S:17 * S] = pvd
    # Boot record volume descriptor (sector 17) [El Torito, 2.0]
    brvd = bytearray(S)
    brvd[0:7] = b"\x00CD001\x01"
    brvd[7:39] = b"EL TORITO SPECIFICATION".ljust(32, b"\0")
    brvd[0x47:0x4B] = struct.pack("<I", boot_catalog_lba)
    image[17 * S:18 * S] = brvd
    # Volume descriptor set terminator (sector 18)
    image[18 * S:18 * S + 7] = b"\xFFCD001\x01"
    # Boot catalog (sector 19): validation entry and initial/default entry [2.1, 2.2]
    validation = bytearray(32)
    validation[0] = 0x01                              # header ID
    validation[1] = 0x00                              # platform: 80x86
    validation[4:28] = b"CYCLE86".ljust(24, b"\0")
    validation[30:32] = b"\x55\xAA"
    checksum = (-sum(struct.unpack("<16H", bytes(validation)))) & 0xFFFF
    validation[28:30] = struct.pack("<H", checksum)
    assert sum(struct.unpack("<16H", bytes(validation))) & 0xFFFF == 0
    initial = struct.pack("<BBHBBHI", 0x88, 0x00, 0x0000, 0x00, 0x00, 4, boot_image_lba)
    image[boot_catalog_lba * S:boot_catalog_lba * S + 64] = bytes(validation) + initial.ljust(32, b"\0")
    # The boot image (sector 20)
    image[boot_image_lba * S:boot_image_lba * S + len(sector)] = sector
    # Root directory (sector 21): "." and ".."
    root = _dir_record(root_lba, S, 0x02, b"\x00") + _dir_record(root_lba, S, 0x02, b"\x01")
    image[root_lba * S:root_lba * S + len(root)] = root
    # Path tables (sectors 22 LE, 23 BE): the root only
    image[path_lba * S:path_lba * S + 10] = struct.pack("<BBIH", 1, 0, root_lba, 1) + b"\0\0"
    image[(path_lba + 1) * S:(path_lba + 1) * S + 10] = struct.pack(">BBIH", 1, 0, root_lba, 1) + b"\0\0"
    return bytes(image)
