"""Screenshots (core/png.py, VGA.screenshot, `cycle86 run --screenshot`, the `screenshot`
command): NASM boot sectors draw known patterns through the real VGA BIOS and the Bochs VBE
registers, and the PNGs are compared pixel by pixel with the patterns computed here."""
import pytest

from core import cli, png
from tests.asm import nasm
from tests.boot import floppy_image

EXIT = "mov al, 0x2A\n        out 0xF4, al\n.hang:  hlt\n        jmp .hang\n"
STATUS = (0x2A << 1) | 1


def dac8(v):
    """A 6-bit DAC value as the 8 bits the screen shows (the top bits repeated below, so
    63 is full intensity)."""
    return (v << 2) | (v >> 4)


# ---- mode 13h: 320x200, one byte per pixel; the guest loads its own 256-entry DAC.
MODE13_ASM = r"""
start:  xor ax, ax
        mov ds, ax
        mov ax, 0x0013
        int 0x10
        mov dx, 0x3C8           ; DAC write index 0, then R G B for each entry
        xor al, al
        out dx, al
        inc dx
        xor cx, cx
.dac:   mov al, cl
        and al, 63              ; R = i & 63
        out dx, al
        mov al, cl
        shr al, 2               ; G = i >> 2
        out dx, al
        mov al, cl
        not al
        and al, 63              ; B = 63 - (i & 63)
        out dx, al
        inc cx
        cmp cx, 256
        jb .dac
        mov ax, 0xA000
        mov es, ax
        xor di, di
        xor bx, bx              ; y
.row:   xor cx, cx              ; x
.pix:   mov ax, cx
        add ax, bx
        add ax, bx              ; colour (x + 2y) & 255
        stosb
        inc cx
        cmp cx, 320
        jb .pix
        inc bx
        cmp bx, 200
        jb .row
""" + EXIT


def mode13_expected():
    out = bytearray()
    for y in range(200):
        for x in range(320):
            i = (x + 2 * y) & 0xFF
            out += bytes((dac8(i & 63), dac8(i >> 2), dac8(63 - (i & 63))))
    return bytes(out), 320, 200


# ---- mode 12h: 640x480, 16 colours in four bit planes written one by one through the
# sequencer's Map Mask; the palette through int 10h AX=1002h (attribute registers) and
# AX=1012h (a block of DAC registers).
PLANE_BYTES = ("xb ^ y", "y", "xb * 3", "xb + 2 * y")


def plane_byte(p, xb, y):
    return (xb ^ y, y, xb * 3, xb + 2 * y)[p] & 0xFF


MODE12_ASM = r"""
start:  xor ax, ax
        mov ds, ax
        mov es, ax
        mov ax, 0x0012
        int 0x10
        mov ax, 0x1002          ; the 16 palette registers and the overscan: identity
        mov dx, 0x7C00 + palette - start
        int 0x10
        mov ax, 0x1012          ; DAC 0-15 from the table
        xor bx, bx
        mov cx, 16
        mov dx, 0x7C00 + dac - start
        int 0x10
        mov ax, 0xA000
        mov es, ax
        xor bp, bp              ; plane
.plane: mov dx, 0x3C4
        mov al, 2
        out dx, al
        inc dx
        mov cx, bp
        mov al, 1
        shl al, cl
        out dx, al              ; Map Mask: this plane only
        xor di, di
        xor bx, bx              ; y
.row:   xor si, si              ; xb: byte column 0-79
.byte:  mov ax, si
        cmp bp, 0
        jne .p1
        xor ax, bx              ; plane 0: xb ^ y
        jmp .put
.p1:    cmp bp, 1
        jne .p2
        mov ax, bx              ; plane 1: y
        jmp .put
.p2:    cmp bp, 2
        jne .p3
        add ax, si
        add ax, si              ; plane 2: 3 xb
        jmp .put
.p3:    add ax, bx
        add ax, bx              ; plane 3: xb + 2y
.put:   stosb
        inc si
        cmp si, 80
        jb .byte
        inc bx
        cmp bx, 480
        jb .row
        inc bp
        cmp bp, 4
        jb .plane
""" + EXIT + r"""
palette: db 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0
dac:
%assign i 0
%rep 16
        db (i * 4), (63 - i * 4), ((i * 9) & 63)
%assign i i + 1
%endrep
"""


def mode12_expected():
    dac = [(i * 4, 63 - i * 4, (i * 9) & 63) for i in range(16)]
    out = bytearray()
    for y in range(480):
        for x in range(640):
            bit = 7 - (x & 7)
            c = sum(((plane_byte(p, x >> 3, y) >> bit) & 1) << p for p in range(4))
            out += bytes(dac8(v) for v in dac[c])
    return bytes(out), 640, 480


# ---- Bochs VBE, 320x200 at 32 bits per pixel through the 64 KiB banked window at A0000
# (the dispi registers at 1CEh/1CFh, as the VGA BIOS's VBE functions program them).
VBE32_ASM = r"""
start:  xor ax, ax
        mov ds, ax
        mov si, 0x7C00 + regs - start
.reg:   lodsw                   ; index, value pairs up to index FFFFh
        cmp ax, 0xFFFF
        je .draw
        mov dx, 0x1CE
        out dx, ax
        lodsw
        inc dx
        out dx, ax
        jmp .reg
.draw:  mov ax, 0xA000
        mov es, ax
        xor di, di
        xor bp, bp              ; bank
        xor bx, bx              ; y
.row:   xor cx, cx              ; x
.pix:   xor eax, eax
        mov al, cl
        xor al, bl
        shl eax, 16             ; R = (x ^ y) & 255
        mov ah, bl              ; G = y
        mov al, cl              ; B = x & 255
        stosd
        test di, di
        jnz .same
        inc bp                  ; the window is full: the next 64 KiB bank
        mov dx, 0x1CE
        mov ax, 5
        out dx, ax
        inc dx
        mov ax, bp
        out dx, ax
.same:  inc cx
        cmp cx, 320
        jb .pix
        inc bx
        cmp bx, 200
        jb .row
""" + EXIT + r"""
regs:   dw 4, 0                 ; disable, then XRES YRES BPP, enable, bank 0
        dw 1, 320
        dw 2, 200
        dw 3, 32
        dw 4, 1
        dw 5, 0
        dw 0xFFFF
"""


# The same picture through the linear frame buffer (dispi ENABLE with LFB_ENABLED), written
# from 32-bit flat protected mode at the isapc machine's LFB address, E0000000h.
VBE32_LFB_ASM = r"""
start:  cli
        xor ax, ax
        mov ds, ax
        mov si, 0x7C00 + regs - start
.reg:   lodsw
        cmp ax, 0xFFFF
        je .pm
        mov dx, 0x1CE
        out dx, ax
        lodsw
        inc dx
        out dx, ax
        jmp .reg
.pm:    lgdt [0x7C00 + gdtr - start]
        mov eax, cr0
        or al, 1
        mov cr0, eax
        jmp dword 0x08:(0x7C00 + flat - start)
        bits 32
flat:   mov ax, 0x10
        mov ds, ax
        mov es, ax
        mov edi, 0xE0000000
        xor ebx, ebx            ; y
.row:   xor ecx, ecx            ; x
.pix:   mov eax, ecx
        xor eax, ebx
        and eax, 0xFF
        shl eax, 16             ; R = (x ^ y) & 255
        mov ah, bl              ; G = y
        mov al, cl              ; B = x & 255
        stosd
        inc ecx
        cmp ecx, 320
        jb .pix
        inc ebx
        cmp ebx, 200
        jb .row
        mov al, 0x2A
        out 0xF4, al
.hang:  hlt
        jmp .hang
        align 8
gdt:    dq 0
        dq 0x00CF9A000000FFFF   ; flat 32-bit code
        dq 0x00CF92000000FFFF   ; flat data
gdtr:   dw 23
        dd 0x7C00 + gdt - start
regs:   dw 4, 0
        dw 1, 320
        dw 2, 200
        dw 3, 32
        dw 4, 0x41              ; enabled, linear frame buffer
        dw 0xFFFF
"""


def vbe32_expected():
    out = bytearray()
    for y in range(200):
        for x in range(320):
            out += bytes(((x ^ y) & 0xFF, y & 0xFF, x & 0xFF))
    return bytes(out), 320, 200


def boot_floppy(tmp_path, source):
    code = nasm(source + "\n        times 510 - ($ - start) db 0\n        dw 0xAA55\n")
    assert len(code) == 512, "the guest must fit in the boot sector"
    image = tmp_path / "guest.img"
    image.write_bytes(floppy_image(code))
    return str(image)


def first_difference(got, want, width):
    for i in range(0, min(len(got), len(want)), 3):
        if got[i:i + 3] != want[i:i + 3]:
            return "pixel (%d, %d): %s, want %s" % ((i // 3) % width, (i // 3) // width,
                                                    got[i:i + 3].hex(), want[i:i + 3].hex())
    return "sizes %d and %d" % (len(got), len(want))


@pytest.mark.parametrize("source,expected", [(MODE13_ASM, mode13_expected),
                                             (MODE12_ASM, mode12_expected),
                                             (VBE32_ASM, vbe32_expected),
                                             (VBE32_LFB_ASM, vbe32_expected)],
                         ids=["mode13h", "mode12h-planar", "vbe-32bpp", "vbe-32bpp-lfb"])
def test_run_screenshot_matches_the_pattern(tmp_path, capsys, source, expected):
    shot = tmp_path / "screen.png"
    status = cli.main(["run", "--machine", "isapc", "--fda", boot_floppy(tmp_path, source),
                       "--max-cycles", "2G", "--screenshot", str(shot)])
    err = capsys.readouterr().err
    assert status == STATUS, err
    rgb, width, height = png.decode(shot.read_bytes())
    want, w, h = expected()
    assert (width, height) == (w, h)
    assert rgb == want, first_difference(rgb, want, width)
    assert "screenshot %s: %dx%d" % (shot, w, h) in err


def test_text_mode_screenshot_uses_the_guests_font(tmp_path, capsys):
    """The boot sector of the platform tests prints a line in text mode 3; the PNG has
    720x400 pixels (80x25 cells of 9x16) and draws each character from the font the VGA
    BIOS loaded into plane 2: the first cell's pixels are its 'c' glyph in light grey."""
    from core import pc as pcmod
    from tests.boot import boot_sector
    image = tmp_path / "boot.img"
    image.write_bytes(floppy_image(boot_sector()))
    p = pcmod.build_pc(pcmod.PCConfig(machine="isapc", fda=str(image)))
    try:
        p.run(max_cycles=400_000_000)
        shot = tmp_path / "text.png"
        vga = p.chips["vga"]
        assert vga.screenshot(str(shot))[:2] == (720, 400)
        rgb, width, height = png.decode(shot.read_bytes())
        # Find a row of text: the row where "cycle86 boot sector OK" was printed.
        row = next(r for r, line in enumerate(vga.screen_text()) if "cycle86 boot" in line)
        col = vga.screen_text()[row].index("c")
        glyph = vga.mem.plane(2, 32 * ord("c"), 16)
        fg = bytes(png_rgb(vga, 7))
        bg = bytes(png_rgb(vga, 0))
        for gy in range(16):
            for gx in range(8):
                px = ((row * 16 + gy) * width + col * 9 + gx) * 3
                on = (glyph[gy] >> (7 - gx)) & 1
                assert rgb[px:px + 3] == (fg if on else bg), (gx, gy)
    finally:
        p.close()


def png_rgb(vga, attribute_colour):
    pal = vga.palette16()
    return pal[attribute_colour * 3:attribute_colour * 3 + 3]


def test_screenshot_command_and_errors(tmp_path):
    from core.machine import Machine
    from debugger.commands import CommandInterpreter
    from debugger.controller import Debugger
    dbg = Debugger(Machine(cpu="8086"))
    out = []
    interp = CommandInterpreter(dbg, write=out.append)
    interp.execute("screenshot %s" % (tmp_path / "x.png"))
    assert any("no VGA" in line for line in out)
    out.clear()
    interp.execute("screenshot")
    assert any("screenshot needs FILE" in line for line in out)


def test_png_round_trip_and_bad_files():
    rgb = bytes(range(256)) * 3 + bytes(48)
    data = png.encode(rgb[:4 * 5 * 3], 4, 5)
    assert png.decode(data) == (rgb[:60], 4, 5)
    with pytest.raises(png.PNGError, match="bad signature"):
        png.decode(b"GIF89a" + data[6:])
    broken = bytearray(data)
    broken[30] ^= 1
    with pytest.raises(png.PNGError, match="bad CRC"):
        png.decode(bytes(broken))
    with pytest.raises(ValueError):
        png.encode(b"\0" * 5, 2, 1)
