"""The VGA (peripherals/vga.py): registers, the planar data path, scan-out, raster timing,
the Bochs VBE interface and Debian's VGA BIOS running on it.

Expected plane contents are worked out by hand from the IBM VGA Technical Reference's
description of the graphics controller (comments show the arithmetic), not by running
another model.
"""
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.machine import Machine
from peripherals.vga import (CP437, Vga, cp437_to_str, find_vga_bios, load_vga_bios,
                             VBE_DISPI_LFB_PHYSICAL_ADDRESS)

LFB = VBE_DISPI_LFB_PHYSICAL_ADDRESS


def make(cpu="80386", frequency=None, **kw):
    m = Machine(cpu=cpu, memory=1 << 20, frequency=frequency)
    return m, Vga(m, **kw)


def outb(m, port, value):
    m.bus.port_write(port, 1, value)


def inb(m, port):
    return m.bus.port_read(port, 1)


def seq(m, i, v):
    outb(m, 0x3C4, i)
    outb(m, 0x3C5, v)


def gc(m, i, v):
    outb(m, 0x3CE, i)
    outb(m, 0x3CF, v)


def crtc(m, i, v=None):
    outb(m, 0x3D4, i)
    if v is None:
        return inb(m, 0x3D5)
    outb(m, 0x3D5, v)


def pixel(image, x, y):
    data, w, h = image
    j = (y * w + x) * 3
    return tuple(data[j:j + 3])


def six_to_eight(c):
    return c << 2 | c >> 4


# ==================================================================== registers

def test_sequencer_and_graphics_registers_read_back_their_defined_bits():
    m, v = make()
    seq(m, 2, 0xFF)
    assert inb(m, 0x3C5) == 0x0F              # Map Mask: 4 bits
    seq(m, 4, 0xFF)
    assert inb(m, 0x3C5) == 0x0E              # Memory Mode: bits 1-3
    outb(m, 0x3C4, 0xFF)
    assert inb(m, 0x3C4) == 0x07              # index: 3 bits
    gc(m, 5, 0xFF)
    assert inb(m, 0x3CF) == 0x7B              # Mode: bit 2 and 7 reserved
    gc(m, 8, 0x5A)
    assert inb(m, 0x3CF) == 0x5A
    outb(m, 0x3C2, 0xFF)
    assert inb(m, 0x3CC) == 0xEF              # MISC: bit 4 reserved
    # a 16-bit OUT is the index byte then the data byte
    m.bus.port_write(0x3CE, 2, 0x0C03)
    assert inb(m, 0x3CE) == 3 and inb(m, 0x3CF) == 0x0C


def test_crtc_follows_misc_io_select_and_protect_bit():
    m, v = make()
    outb(m, 0x3C2, 0x67)                      # colour: CRTC at 3D4/3D5
    crtc(m, 0x0C, 0x12)
    assert crtc(m, 0x0C) == 0x12
    assert inb(m, 0x3B5) == 0xFF              # the mono pair is not decoded
    outb(m, 0x3B4, 0x0C)
    outb(m, 0x3B5, 0x99)
    assert crtc(m, 0x0C) == 0x12
    outb(m, 0x3C2, 0x66)                      # mono: CRTC at 3B4/3B5, status at 3BA
    outb(m, 0x3B4, 0x0C)
    assert inb(m, 0x3B5) == 0x12
    assert inb(m, 0x3D5) == 0xFF and inb(m, 0x3DA) == 0xFF
    assert inb(m, 0x3BA) != 0xFF
    outb(m, 0x3C2, 0x67)
    m.bus.port_write(0x3D4, 2, 0x3411)        # word OUT: index 11h, data 34h
    assert crtc(m, 0x11) == 0x34
    # protect (11h bit 7): 0-7 read-only except the line compare bit 8 in 07h
    crtc(m, 0x00, 0x5F)
    crtc(m, 0x07, 0x00)
    crtc(m, 0x11, 0x80 | 0x0E)
    crtc(m, 0x00, 0x12)
    crtc(m, 0x07, 0xFF)
    assert crtc(m, 0x00) == 0x5F
    assert crtc(m, 0x07) == 0x10
    crtc(m, 0x11, 0x0E)                       # 11h itself stays writable
    crtc(m, 0x00, 0x12)
    assert crtc(m, 0x00) == 0x12


def test_attribute_controller_flip_flop():
    m, v = make()
    outb(m, 0x3C2, 0x67)
    inb(m, 0x3DA)                             # flip-flop -> index
    outb(m, 0x3C0, 0x05)                      # index 5, PAS = 0
    outb(m, 0x3C0, 0x2A)                      # data
    assert inb(m, 0x3C0) == 0x05
    assert inb(m, 0x3C1) == 0x2A
    outb(m, 0x3C0, 0x06)                      # toggled back: this is an index
    outb(m, 0x3C0, 0x11)
    assert v.attr[6] == 0x11 and v.attr[5] == 0x2A
    outb(m, 0x3C0, 0x07)                      # index...
    inb(m, 0x3DA)                             # ...reading Input Status 1 resets
    outb(m, 0x3C0, 0x08)                      # so this is an index again, not data
    assert v.attr[7] == 0 and inb(m, 0x3C0) == 0x08
    outb(m, 0x3C0, 0x33)
    assert v.attr[8] == 0x33
    # PAS = 1: the display reads the palette, and (as on the VGA adapters and clones,
    # not IBM's first planar VGA) a write still lands: the VGA BIOS's AX=1002h does that.
    outb(m, 0x3C0, 0x25)
    outb(m, 0x3C0, 0x3F)
    assert v.attr[5] == 0x3F
    outb(m, 0x3C0, 0x30)                      # PAS + Mode Control: writable
    outb(m, 0x3C0, 0x01)
    assert v.attr[0x10] == 0x01
    outb(m, 0x3C0, 0x33)                      # Horizontal Pel Panning: 4 bits
    outb(m, 0x3C0, 0xFF)
    assert inb(m, 0x3C1) == 0x0F


def test_dac_index_and_three_byte_auto_increment():
    m, v = make()
    outb(m, 0x3C8, 0x10)
    assert inb(m, 0x3C7) == 0x00              # DAC state: write mode
    for c in (1, 2, 3, 4, 5, 6):
        outb(m, 0x3C9, c)
    assert inb(m, 0x3C8) == 0x12
    assert bytes(v.dac[0x30:0x36]) == bytes([1, 2, 3, 4, 5, 6])
    outb(m, 0x3C9, 0xFF)                      # 6-bit DAC: masked; entry not yet changed
    assert v.dac[0x36] == 0
    outb(m, 0x3C9, 0x41)
    outb(m, 0x3C9, 0x00)
    assert bytes(v.dac[0x36:0x39]) == bytes([0x3F, 0x01, 0x00])
    outb(m, 0x3C7, 0x10)
    assert inb(m, 0x3C7) == 0x03              # read mode
    assert [inb(m, 0x3C9) for _ in range(7)] == [1, 2, 3, 4, 5, 6, 0x3F]
    assert inb(m, 0x3C8) == 0x13              # reads do not move the write index
    outb(m, 0x3C6, 0x0F)
    assert inb(m, 0x3C6) == 0x0F


# ==================================================================== the data path

P0, P1, P2, P3 = 0x0F, 0xF0, 0xAA, 0x55


def planar(m, v):
    v.set_mode(0x12)
    for p, b in enumerate((P0, P1, P2, P3)):
        v.mem.set_plane_byte(p, 0, b)
    m.mem.read8(0xA0000)                      # loads the four latches


def planes_at(v, offset):
    return tuple(v.mem.plane_byte(p, offset) for p in range(4))


def test_write_mode_0_set_reset_and_bit_mask():
    m, v = make()
    planar(m, v)
    gc(m, 0, 0b0101)                          # Set/Reset
    gc(m, 1, 0b0011)                          # Enable Set/Reset: planes 0, 1
    gc(m, 8, 0xF0)
    m.mem.write8(0xA0000, 0x3C)
    # plane 0: set/reset 1 -> FF; plane 1: set/reset 0 -> 00; planes 2, 3: data 3C;
    # bit mask F0 keeps the latch in bits 0-3:
    #   FF&F0 | 0F&0F = FF;  00 | F0&0F = 00;  3C&F0 | AA&0F = 3A;  30 | 55&0F = 35
    assert planes_at(v, 0) == (0xFF, 0x00, 0x3A, 0x35)


def test_write_mode_0_rotate_function_and_map_mask():
    m, v = make()
    planar(m, v)
    gc(m, 3, 0x08 | 4)                        # AND with the latches, rotate right 4
    seq(m, 2, 0b1010)                         # planes 1 and 3 only
    m.mem.write8(0xA0000, 0x3C)
    # 3C ror 4 = C3; plane 1: C3 & F0 = C0; plane 3: C3 & 55 = 41; 0 and 2 untouched
    assert planes_at(v, 0) == (0x0F, 0xC0, 0xAA, 0x41)


def test_write_mode_1_copies_the_latches():
    m, v = make()
    planar(m, v)
    gc(m, 5, 0x01)
    gc(m, 8, 0x00)                            # the bit mask does not apply in mode 1
    m.mem.write8(0xA0007, 0x00)
    assert planes_at(v, 7) == (P0, P1, P2, P3)


def test_write_mode_2_colour_fill_with_xor():
    m, v = make()
    planar(m, v)
    gc(m, 5, 0x02)
    gc(m, 3, 0x18)                            # XOR
    gc(m, 8, 0x0F)
    m.mem.write8(0xA0000, 0x0A)               # colour 1010: planes 1 and 3 all ones
    # XOR latches: 0F, F0^FF=0F, AA, 55^FF=AA; bit mask 0F keeps latch bits 4-7:
    #   0F|00 = 0F;  0F|F0 = FF;  0A|A0 = AA;  0A|50 = 5A
    assert planes_at(v, 0) == (0x0F, 0xFF, 0xAA, 0x5A)


def test_write_mode_3_set_reset_through_rotated_data_mask():
    m, v = make()
    planar(m, v)
    gc(m, 5, 0x03)
    gc(m, 0, 0b0110)
    gc(m, 3, 0x01)                            # rotate right 1
    gc(m, 8, 0x3C)
    m.mem.write8(0xA0000, 0xF0)
    # F0 ror 1 = 78; & bit mask 3C = 38 is the mask; values from set/reset 0110:
    #   00&38 | 0F&C7 = 07;  38 | F0&C7 = F8;  38 | AA&C7 = BA;  00 | 55&C7 = 45
    assert planes_at(v, 0) == (0x07, 0xF8, 0xBA, 0x45)


def test_read_modes_0_and_1():
    m, v = make()
    planar(m, v)
    gc(m, 4, 2)
    assert m.mem.read8(0xA0000) == P2
    gc(m, 4, 3)
    assert m.mem.read8(0xA0000) == P3
    gc(m, 5, 0x08)                            # read mode 1
    # pixel colours (plane 3..0) for bits 7..0: 6 A 6 A 5 9 5 9
    gc(m, 2, 0x5)
    gc(m, 7, 0xF)
    assert m.mem.read8(0xA0000) == 0b00001010
    gc(m, 7, 0x3)                             # compare planes 0 and 1 only: 01
    assert m.mem.read8(0xA0000) == 0b00001111
    gc(m, 7, 0x0)                             # nothing compared: all match
    assert m.mem.read8(0xA0000) == 0xFF


def reference_write(mode, latches, data, rotate, func, set_reset, esr, bit_mask):
    """The graphics controller's write path pixel bit by pixel bit, as the IBM reference
    describes each write mode: the value each plane would receive."""
    rotated = ((data >> rotate) | (data << (8 - rotate))) & 0xFF
    out = []
    for p, latch in enumerate(latches):
        if mode == 1:
            out.append(latch)
            continue
        plane = 0
        for i in range(8):
            lbit = (latch >> i) & 1
            if mode == 0:
                src = (set_reset >> p) & 1 if (esr >> p) & 1 else (rotated >> i) & 1
                keep = not (bit_mask >> i) & 1
            elif mode == 2:
                src = (data >> p) & 1
                keep = not (bit_mask >> i) & 1
            else:
                src = (set_reset >> p) & 1
                keep = not ((rotated & bit_mask) >> i) & 1
            v = (src, src & lbit, src | lbit, src ^ lbit)[func]
            plane |= (lbit if keep else v) << i
        out.append(plane)
    return out


@settings(max_examples=300, deadline=None)
@given(mode=st.integers(0, 3), latches=st.lists(st.integers(0, 255), min_size=4, max_size=4),
       data=st.integers(0, 255), rotate=st.integers(0, 7), func=st.integers(0, 3),
       set_reset=st.integers(0, 15), esr=st.integers(0, 15), bit_mask=st.integers(0, 255),
       map_mask=st.integers(0, 15))
def test_write_modes_match_the_bitwise_description(mode, latches, data, rotate, func,
                                                   set_reset, esr, bit_mask, map_mask):
    m, v = make(vram_size=0x40000, vbe=False)
    v.set_mode(0x12)
    for p in range(4):
        v.mem.set_plane_byte(p, 0x100, latches[p])
        v.mem.set_plane_byte(p, 0x200, 0x5A ^ p)
    m.mem.read8(0xA0100)                      # latches
    gc(m, 0, set_reset)
    gc(m, 1, esr)
    gc(m, 3, func << 3 | rotate)
    gc(m, 5, mode)
    gc(m, 8, bit_mask)
    seq(m, 2, map_mask)
    m.mem.write8(0xA0200, data)
    want = reference_write(mode, latches, data, rotate, func, set_reset, esr, bit_mask)
    for p in range(4):
        expect = want[p] if (map_mask >> p) & 1 else 0x5A ^ p
        assert v.mem.plane_byte(p, 0x200) == expect, p


@settings(max_examples=200, deadline=None)
@given(planes=st.lists(st.integers(0, 255), min_size=4, max_size=4),
       compare=st.integers(0, 15), dont_care=st.integers(0, 15))
def test_read_mode_1_matches_the_bitwise_description(planes, compare, dont_care):
    m, v = make(vram_size=0x40000, vbe=False)
    v.set_mode(0x12)
    for p in range(4):
        v.mem.set_plane_byte(p, 0x40, planes[p])
    gc(m, 5, 0x08)
    gc(m, 2, compare)
    gc(m, 7, dont_care)
    want = 0
    for i in range(8):
        colour = sum(((planes[p] >> i) & 1) << p for p in range(4))
        if (colour ^ compare) & dont_care == 0:
            want |= 1 << i
    assert m.mem.read8(0xA0040) == want


def test_memory_map_select_and_ram_enable():
    m, v = make()
    v.set_mode(0x12)                          # A0000, 64 KiB
    m.mem.write8(0xB8000, 0x12)
    assert m.mem.read8(0xB8000) == 0xFF       # outside the window: not decoded
    gc(m, 6, 0x02 << 2 | 1)                   # B0000-B7FFF
    seq(m, 2, 0x01)
    m.mem.write8(0xB0003, 0x77)
    gc(m, 4, 0)
    assert m.mem.read8(0xB0003) == 0x77 and v.mem.plane_byte(0, 3) == 0x77
    assert m.mem.read8(0xA0003) == 0xFF
    outb(m, 0x3C2, 0x61)                      # MISC bit 1 clear: RAM access off
    assert m.mem.read8(0xB0003) == 0xFF


def test_chain4_mode_13h_pixels():
    m, v = make()
    v.set_mode(0x13)
    addr = 320 * 17 + 61                      # 0x1579
    m.mem.write8(0xA0000 + addr, 0x77)
    # A1:A0 choose the plane; the plane offset keeps the other address bits
    assert v.mem.plane_byte(addr & 3, addr & ~3) == 0x77
    assert [v.mem.plane_byte(p, addr & ~3) for p in range(4) if p != addr & 3] == [0, 0, 0]
    assert m.mem.read8(0xA0000 + addr) == 0x77
    seq(m, 2, 0b1101)                         # plane 1 masked off
    m.mem.write8(0xA0001, 0x55)
    m.mem.write8(0xA0002, 0x66)
    assert m.mem.read8(0xA0001) == 0 and m.mem.read8(0xA0002) == 0x66
    seq(m, 2, 0b1111)
    v.mem.write(0xA0004, 4, 0x04030201)       # a 32-bit access: four pixels
    assert [v.mem.plane_byte(p, 4) for p in range(4)] == [1, 2, 3, 4]
    outb(m, 0x3C8, 0x77)
    for c in (63, 0, 32):
        outb(m, 0x3C9, c)
    image = v.render()
    assert image[1:] == (320, 200)
    assert pixel(image, 61, 17) == (255, 0, 130)
    assert pixel(image, 5, 0) == (0, 170, 0)      # value 2: EGA green
    assert pixel(image, 8, 0) == (0, 0, 0)


def test_planar_mode_12h_render():
    m, v = make()
    v.set_mode(0x12)
    seq(m, 2, 0b0100)                         # plane 2 only
    m.mem.write8(0xA0000 + 80 * 3 + 1, 0x80)  # pixel (8, 3) gets colour 4
    seq(m, 2, 0b1111)
    gc(m, 5, 0x02)                            # write mode 2: pixel (17, 5) colour 14
    gc(m, 8, 0x40)
    m.mem.read8(0xA0000 + 80 * 5 + 2)
    m.mem.write8(0xA0000 + 80 * 5 + 2, 14)
    image = v.render()
    assert image[1:] == (640, 480)
    # colour 4 -> palette 04 -> EGA red (2A, 0, 0); 14 -> palette 3E -> yellow (3F 3F 15)
    assert pixel(image, 8, 3) == (170, 0, 0)
    assert pixel(image, 17, 5) == (255, 255, 85)
    assert pixel(image, 9, 3) == (0, 0, 0)


def test_unchained_256_colour_mode_x():
    m, v = make()
    v.set_mode(0x13)
    seq(m, 4, 0x06)                           # chain-4 off: planes by the Map Mask
    crtc(m, 0x14, 0x00)                       # doubleword mode off
    crtc(m, 0x17, 0xE3)                       # byte mode
    x, y = 123, 45
    seq(m, 2, 1 << (x & 3))
    m.mem.write8(0xA0000 + y * 80 + x // 4, 9)    # pixel (x, y): plane x&3, byte y*80+x/4
    image = v.render()
    assert image[1:] == (320, 200)
    assert pixel(image, x, y) == (0, 0, 255)   # DAC entry 9 (EGA 001001)
    assert pixel(image, x - 1, y) == (0, 0, 0) and pixel(image, x + 1, y) == (0, 0, 0)
    crtc(m, 0x0C, (80 * 40) >> 8)             # display start one page of 40 rows down
    crtc(m, 0x0D, (80 * 40) & 0xFF)
    assert pixel(v.render(), x, y - 40) == (0, 0, 255)


def test_line_compare_split_screen_and_pel_panning():
    m, v = make()
    v.set_mode(0x12)
    m.mem.write8(0xA0000, 0x80)               # pixel (0, 0): colour 15, all planes
    m.mem.write8(0xA0000 + 80 * 10, 0x40)     # pixel (1, 10)
    crtc(m, 0x0C, (80 * 10) >> 8)             # the screen starts at memory row 10
    crtc(m, 0x0D, (80 * 10) & 0xFF)
    crtc(m, 0x07, crtc(m, 0x07) & ~0x10)      # line compare = 99 (bits 8, 9 clear)
    crtc(m, 0x09, crtc(m, 0x09) & ~0x40)
    crtc(m, 0x18, 99)
    image = v.render()
    white = (255, 255, 255)
    assert pixel(image, 1, 0) == white        # memory row 10
    assert pixel(image, 0, 0) == (0, 0, 0)
    # the line after the one matching line compare shows memory from address 0
    assert pixel(image, 0, 100) == white and pixel(image, 0, 99) == (0, 0, 0)
    inb(m, 0x3DA)
    outb(m, 0x3C0, 0x33)                      # Horizontal Pel Panning = 1
    outb(m, 0x3C0, 1)
    assert pixel(v.render(), 0, 0) == white   # pixel 1 of row 10 now shows at x = 0


# ==================================================================== text

def test_text_cells_from_odd_even_memory():
    m, v = make()
    v.set_mode(3)
    cell = 80 * 2 + 5
    m.mem.write8(0xB8000 + 2 * cell, ord("X"))
    m.mem.write8(0xB8000 + 2 * cell + 1, 0x1E)
    # even addresses go to plane 0, odd to plane 1, at the even offset
    assert v.mem.plane_byte(0, 2 * cell) == ord("X")
    assert v.mem.plane_byte(1, 2 * cell) == 0x1E
    v.mem.write(0xB8000, 2, 0x0741)           # one 16-bit access: 'A', attribute 07
    m.mem.write(0xB8002, bytes([0x01, 0x07, 0xC9, 0x07, 0xB0, 0x07]))
    text = v.screen_text()
    assert len(text) == 25 and all(len(line) == 80 for line in text)
    assert text[0].startswith("A☺╔░ ")
    assert text[2][5] == "X"
    assert v.screen_cells()[2][5] == ("X", 0x1E)
    assert m.mem.read8(0xB8000 + 2 * cell + 1) == 0x1E
    # the start address scrolls the screen: one row = 80 character clocks
    crtc(m, 0x0C, 0)
    crtc(m, 0x0D, 80)
    assert v.screen_text()[1][5] == "X"
    crtc(m, 0x0D, 0)
    crtc(m, 0x0E, 0)
    crtc(m, 0x0F, 80 * 2 + 5)
    assert v.cursor() == (2, 5)
    v.set_mode(0x13)
    assert v.screen_text() == [] and v.screen_cells() == []


def test_cp437():
    assert cp437_to_str(bytes([0x01, 0x41, 0xB3, 0xDB, 0xE1, 0x7F])) == "☺A│█ß⌂"
    assert len(CP437) == 256 and len(set(CP437)) == 254   # 00 and FF are blanks, as 20 is


def test_text_render_uses_the_font_in_plane_2():
    m, v = make()
    v.set_mode(3)
    glyphs = bytearray(256 * 16)
    glyphs[ord("X") * 16:ord("X") * 16 + 16] = b"\x81" * 16
    glyphs[0xC4 * 16 + 7] = 0xFF              # a line-drawing character
    v.load_font(bytes(glyphs), 16)
    m.mem.write(0xB8000, bytes([ord("X"), 0x1E, 0xC4, 0x07, ord("X"), 0x07]))
    crtc(m, 0x0A, 14)
    crtc(m, 0x0B, 15)
    crtc(m, 0x0E, 0)
    crtc(m, 0x0F, 2)                          # cursor on column 2
    image = v.render()
    assert image[1:] == (720, 400)
    yellow, blue, grey = (255, 255, 85), (0, 0, 170), (170, 170, 170)
    assert pixel(image, 0, 0) == yellow and pixel(image, 7, 0) == yellow
    assert pixel(image, 1, 0) == blue
    assert pixel(image, 8, 0) == blue         # ninth dot: background for 'X'
    # C4 with Line Graphics Enable: the ninth dot repeats the eighth
    assert pixel(image, 9 + 7, 7) == grey and pixel(image, 9 + 8, 7) == grey
    assert pixel(image, 9 + 8, 6) == (0, 0, 0)
    # the cursor covers scan lines 14-15 of column 2 in the foreground colour
    assert pixel(image, 18 + 3, 13) == (0, 0, 0)
    assert pixel(image, 18 + 3, 14) == grey and pixel(image, 18 + 3, 15) == grey
    # attribute controller palette source at the CPU: the screen is blanked
    inb(m, 0x3DA)
    outb(m, 0x3C0, 0x00)
    assert pixel(v.render(), 0, 0) == (0, 0, 0)
    inb(m, 0x3DA)
    outb(m, 0x3C0, 0x20)
    assert pixel(v.render(), 0, 0) == yellow


# ==================================================================== raster timing

def test_input_status_1_retrace_timing_follows_the_crtc():
    # CPU clock = the 28.322 MHz dot clock of mode 3: one cycle per dot, 9 per character
    m, v = make(frequency=28_322_000)
    v.set_mode(3)
    t0 = m.clock.now
    # CRTC: horizontal total 5F+5 = 100 clocks (900 cycles a line), display end 80
    # clocks; vertical total 1BF+2 = 449 lines, display end 400, retrace from line 19C
    # (412) to the line whose low nibble is E (414).
    line = 900
    checks = [
        (0, 0x00), (719, 0x00), (720, 0x01), (899, 0x01), (900, 0x00),
        (400 * line - 1, 0x01),               # column 99 of line 399
        (400 * line, 0x01),
        (412 * line - 1, 0x01),
        (412 * line, 0x09), (414 * line - 1, 0x09), (414 * line, 0x01),
        (449 * line, 0x00),                   # next frame
        (449 * line + 412 * line, 0x09),
    ]
    for t, want in checks:
        m.clock.now = t0 + t
        assert inb(m, 0x3DA) == want, t
        assert v.raster_position() == ((t // line) % 449, (t % line) // 9)


def test_guest_polling_0x3da_leaves_the_loop_at_vertical_retrace():
    m, v = make(frequency=28_322_000)
    v.set_mode(3)
    t0 = m.clock.now
    # mov dx,3DAh / l: in al,dx / test al,8 / jz l / hlt
    code = bytes.fromhex("BADA03" "EC" "A808" "74FB" "F4")
    m.mem.write(0x10000, code)
    cpu = m.cpu
    cpu.cs, cpu.ip, cpu.ss, cpu.sp = 0x1000, 0, 0x3000, 0xFFFE
    cpu.if_ = 0
    assert m.run(max_cycles=2_000_000) == "halt"
    retrace = t0 + 412 * 900
    assert retrace <= m.clock.now < retrace + 60


def test_dot_clock_and_character_width_select():
    m, v = make(frequency=25_175_000)
    v.set_mode(0x13)                          # 25.175 MHz, 8-dot characters
    m.clock.now = 80 * 8
    assert inb(m, 0x3DA) & 1
    m.clock.now = 80 * 8 - 1
    assert not inb(m, 0x3DA) & 1
    assert v.frame_number(m.clock.now + 100 * 8 * 449) == 1


# ==================================================================== Bochs VBE

def dispi(m, index, value=None):
    m.bus.port_write(0x1CE, 2, index)
    if value is None:
        return m.bus.port_read(0x1CF, 2)
    m.bus.port_write(0x1CF, 2, value)


def test_dispi_id_caps_and_memory_size():
    m, v = make()
    assert dispi(m, 0) == 0xB0C5
    dispi(m, 0, 0xB0C0)
    assert dispi(m, 0) == 0xB0C0
    dispi(m, 0, 0x1234)
    assert dispi(m, 0) == 0xB0C0
    assert dispi(m, 0xA) == (16 << 20) >> 16
    dispi(m, 4, 0x02)                         # GETCAPS
    assert (dispi(m, 1), dispi(m, 2), dispi(m, 3)) == (2560, 1600, 32)
    dispi(m, 4, 0x00)
    assert (dispi(m, 1), dispi(m, 2), dispi(m, 3)) == (640, 480, 8)


def test_dispi_32bpp_mode_through_the_linear_frame_buffer():
    m, v = make()
    dispi(m, 1, 320)
    dispi(m, 2, 200)
    dispi(m, 3, 32)
    dispi(m, 4, 0x41)                         # ENABLED | LFB_ENABLED
    assert v.mode_description() == "VBE 320x200x32"
    assert m.bus.page_kind(LFB) == "ram"      # the CPU writes it with no call
    m.mem.write(LFB + (10 * 320 + 5) * 4, bytes([0x10, 0x20, 0x30, 0]))   # B G R x
    image = v.render()
    assert image[1:] == (320, 200)
    assert pixel(image, 5, 10) == (0x30, 0x20, 0x10)
    dispi(m, 1, 1024)                         # ignored while enabled
    assert dispi(m, 1) == 320
    # a virtual width and a display start move the picture
    dispi(m, 6, 400)
    assert (dispi(m, 6), dispi(m, 7)) == (400, (16 << 20) // 1600)
    m.mem.write(LFB + (3 * 400 + 2) * 4, bytes([0, 0, 0xFF, 0]))
    dispi(m, 9, 3)
    dispi(m, 8, 2)
    assert pixel(v.render(), 0, 0) == (0xFF, 0, 0)


def test_dispi_8bpp_banked_window_and_dac():
    m, v = make()
    dispi(m, 1, 640)
    dispi(m, 2, 480)
    dispi(m, 3, 8)
    dispi(m, 4, 0x01)
    dispi(m, 5, 1)
    assert dispi(m, 5) == 1
    m.mem.write8(0xA0005, 0x42)               # bank 1: video memory 10005h
    assert m.mem.read8(LFB + 0x10005) == 0x42
    assert m.mem.read8(0xA0005) == 0x42
    dispi(m, 5, 256)                          # past the 16 MiB: refused
    assert dispi(m, 5) == 1
    outb(m, 0x3C8, 0x42)
    for c in (10, 20, 30):
        outb(m, 0x3C9, c)
    # 10005h = 65541 = 102 * 640 + 261
    assert pixel(v.render(), 261, 102) == tuple(six_to_eight(c) for c in (10, 20, 30))


def test_dispi_enable_clears_memory_unless_asked_not_to_and_8bit_dac():
    m, v = make()
    dispi(m, 1, 64)
    dispi(m, 2, 64)
    dispi(m, 4, 0x41)
    m.mem.write8(LFB + 100, 0x99)
    dispi(m, 4, 0x00)
    dispi(m, 4, 0x41 | 0x80)                  # NOCLEARMEM
    assert m.mem.read8(LFB + 100) == 0x99
    dispi(m, 4, 0x00)
    dispi(m, 4, 0x41 | 0x20)                  # cleared; DAC in 8-bit mode
    assert m.mem.read8(LFB + 100) == 0
    outb(m, 0x3C8, 0)
    for c in (0xC8, 0x80, 0x40):
        outb(m, 0x3C9, c)
    assert pixel(v.render(), 0, 0) == (0xC8, 0x80, 0x40)
    dispi(m, 4, 0x00)
    assert v.mode_description() != "VBE 64x64x8"


def test_8bit_dac_entries_after_the_dac_goes_back_to_6_bits():
    """An entry written with the 8-bit DAC on, shown after it is off: the 6-bit DAC takes
    the low six bits of each component (rendering used to fail with a ValueError on the
    10-bit result; found by the fuzz harness, issue 15)."""
    m, v = make()
    v.set_mode(0x13)
    dispi(m, 4, 0x20)                          # 8-bit DAC, VBE off
    outb(m, 0x3C8, 0)
    for c in (0xC8, 0x80, 0x7F):
        outb(m, 0x3C9, c)
    dispi(m, 4, 0x00)                          # back to the 6-bit DAC
    six = [c & 0x3F for c in (0xC8, 0x80, 0x7F)]
    assert pixel(v.render(), 0, 0) == tuple(c << 2 | c >> 4 for c in six)


def test_lfb_can_move_for_a_pci_bar():
    m, v = make()
    v.set_lfb_base(0xF0000000)
    assert m.bus.page_kind(LFB) == "unmapped"
    m.mem.write8(0xF0000010, 0x5A)
    assert v.mem.read_linear(0x10, 1) == b"\x5a"


# ==================================================================== state, info, ROM

def test_snapshot_round_trip():
    m, v = make()
    v.set_mode(3)
    m.mem.write(0xB8000, b"S\x07n\x07a\x07p\x07")
    m.clock.now += 123_456
    outb(m, 0x3C8, 5)
    outb(m, 0x3C9, 7)                         # a DAC write half done
    state = v.get_state()
    m2, v2 = make()
    m2.clock.now = m.clock.now
    v2.set_state(state)
    assert v2.screen_text() == v.screen_text()
    assert v2.raster_position() == v.raster_position()
    outb(m2, 0x3C9, 8)
    outb(m2, 0x3C9, 9)
    assert bytes(v2.dac[15:18]) == bytes([7, 8, 9])
    assert v2.render() == v.render()


def test_info_names_the_mode_and_registers():
    m, v = make()
    v.set_mode(0x13)
    text = v.info()
    assert "graphics 320x200 256 colours" in text
    assert "CRTC" in text and "VBE" in text


def test_load_vga_bios_checks_the_file(tmp_path):
    m, v = make()
    with pytest.raises(FileNotFoundError, match="nope.bin"):
        load_vga_bios(m, str(tmp_path / "nope.bin"))
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"\x00" * 512)
    with pytest.raises(ValueError, match="bad.bin"):
        load_vga_bios(m, str(bad))
    good = tmp_path / "good.bin"
    good.write_bytes(b"\x55\xAA\x01\xCB" + bytes(508))
    assert load_vga_bios(m, str(good)) == str(good)
    assert m.mem.read(0xC0000, 4) == b"\x55\xAA\x01\xCB"
    assert m.bus.page_kind(0xC0000) == "rom"


# ==================================================================== Debian's VGA BIOS

def vgabios_path():
    path = find_vga_bios()
    if path is None:
        if os.environ.get("CYCLE86_REQUIRE_SHARED") == "1":
            pytest.fail("Debian's vgabios package is required (apt-get install vgabios)")
        pytest.skip("vgabios is not installed")
    return path


class BiosRig:
    """A Machine with the VGA and its BIOS at C0000, every interrupt vector pointing at
    an IRET (the only "system BIOS"), and a way to run a few instructions."""

    def __init__(self):
        self.m, self.v = make()
        load_vga_bios(self.m, vgabios_path())
        mem = self.m.mem
        mem.write(0x70000, b"\xCF")           # IRET
        for i in range(256):
            mem.write16(4 * i, 0)
            mem.write16(4 * i + 2, 0x7000)

    def call(self, code, **regs):
        m, cpu = self.m, self.m.cpu
        m.mem.write(0x10000, code + b"\xF4")  # ... hlt
        cpu.cs, cpu.ip, cpu.ss, cpu.sp = 0x1000, 0, 0x3000, 0xFFFE
        for name, value in regs.items():
            setattr(cpu, name, value)
        cpu.if_ = 0
        cpu.halted = False
        assert m.run(max_cycles=200_000_000) == "halt"
        return cpu

    def post(self):
        self.call(bytes.fromhex("9A0300 00C0"))   # call far C000:0003

    def int10(self, **regs):
        return self.call(b"\xCD\x10", **regs)


def test_debian_vgabios_posts_and_int10_teletype_works():
    rig = BiosRig()
    rig.post()
    v = rig.v
    assert v.is_text_mode() and v.mode_description().startswith("text 80x25")
    text = [line.rstrip() for line in v.screen_text()]
    assert "Bochs VBE Display Adapter enabled" in text   # it found the dispi interface
    row, col = v.cursor()
    for ch in b"Hi!\r\nsecond line":
        rig.int10(ax=0x0E00 | ch, bx=0x0007)
    text = [line.rstrip() for line in v.screen_text()]
    assert text[row] == "Hi!" and text[row + 1] == "second line"
    assert v.cursor() == (row + 1, len("second line"))
    image = v.render()
    assert image[1:] == (720, 400)
    # 'H' in the BIOS's 8x16 font lights pixels in the light grey of attribute 07
    cell = [pixel(image, x, y) for y in range(row * 16, row * 16 + 16) for x in range(9)]
    assert (170, 170, 170) in cell
    # past the bottom row the BIOS scrolls the screen (copies through the window)
    for i in range(30):
        for ch in b"line %d\r\n" % i:
            rig.int10(ax=0x0E00 | ch, bx=0x0007)
    text = [line.rstrip() for line in v.screen_text()]
    assert text[:2] == ["line 6", "line 7"] and text[23:] == ["line 29", ""]
    assert v.cursor() == (24, 0)


def test_debian_vgabios_mode_13h_and_a_vbe_mode():
    rig = BiosRig()
    rig.post()
    v, m = rig.v, rig.m
    rig.int10(ax=0x0013)
    rig.int10(ax=0x0C04, bx=0, cx=100, dx=50)     # pixel (100, 50) colour 4
    assert m.mem.read8(0xA0000 + 50 * 320 + 100) == 4
    image = v.render()
    assert image[1:] == (320, 200)
    assert pixel(image, 100, 50) == (170, 0, 0)   # the BIOS's palette: red
    # CGA mode 4: odd rows in the 8 KiB bank at B8000+2000h, four 2-bit pixels a byte
    rig.int10(ax=0x0004)
    rig.int10(ax=0x0C03, bx=0, cx=10, dx=1)       # colour 3: odd bank, bits 3-2 of byte 2
    rig.int10(ax=0x0C01, bx=0, cx=11, dx=2)       # colour 1: bits 1-0 of byte 82
    assert m.mem.read8(0xB8000 + 0x2000 + 2) == 0x0C
    assert m.mem.read8(0xB8000 + 80 + 2) == 0x01
    image = v.render()
    assert image[1:] == (320, 200)
    # CGA palette 1, high intensity: white, cyan
    assert pixel(image, 10, 1) == (255, 255, 255) and pixel(image, 11, 2) == (85, 255, 255)
    assert pixel(image, 10, 2) == (0, 0, 0) and pixel(image, 11, 1) == (0, 0, 0)
    cpu = rig.int10(ax=0x4F00, es=0x2000, di=0)
    assert cpu.ax == 0x004F and m.mem.read(0x20000, 4) == b"VESA"
    cpu = rig.int10(ax=0x4F01, cx=0x0101, es=0x2000, di=0)   # 640x480x8
    assert cpu.ax == 0x004F
    assert m.mem.read32(0x20000 + 0x28) == LFB                # PhysBasePtr
    cpu = rig.int10(ax=0x4F02, bx=0x4101)
    assert cpu.ax == 0x004F and v.mode_description() == "VBE 640x480x8"
    m.mem.write8(LFB + 479 * 640 + 639, 4)
    assert pixel(v.render(), 639, 479) == (170, 0, 0)
    rig.int10(ax=0x0003)
    assert v.is_text_mode()
    rig.int10(ax=0x0E41, bx=0x0007)
    assert v.screen_text()[0].startswith("A")


def test_vbe_display_offsets_past_the_video_memory_show_black():
    """X and Y offsets far past the video memory (their start address beyond 4 GiB)
    show black, like any pixel past the memory's end; rendering used to raise an
    OverflowError (found by the fuzz harness, issue 15)."""
    m, v = make()
    dispi(m, 1, 64)
    dispi(m, 2, 64)
    dispi(m, 3, 32)
    dispi(m, 4, 0x41)
    dispi(m, 6, 0xFFFF)                        # virtual width: as wide as fits
    m.mem.write(LFB, b"\x10\x20\x30\x00")
    assert pixel(v.render(), 0, 0) == (0x30, 0x20, 0x10)
    dispi(m, 8, 0xFFFF)                        # X offset
    dispi(m, 9, 0xFFFF)                        # Y offset
    data, w, h = v.render()
    assert (w, h) == (64, 64) and data == bytes(64 * 64 * 3)
