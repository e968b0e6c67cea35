# cython: language_level=3
"""The hot paths of the VGA (peripherals/vga.py): video memory and scan-out.

`VideoMemory` owns the display memory and implements the CPU's path into it through the
graphics controller: the four planes with their latches, chain-4 and odd/even addressing,
write modes 0-3 and read modes 0-1 (IBM VGA Technical Reference, "Graphics Controller
Registers"; FreeVGA, "VGA/SVGA Video Programming").  The bus calls `read`/`write` for the
A0000-BFFFF window; those are C code behind one Python call.

Layout.  The memory is one buffer.  In VGA modes byte 4*o + p holds byte o of plane p,
so one 32-bit load is the four latches and one masked 32-bit store writes any set of
planes.  The Bochs VBE modes of more than 4 bits per pixel see the same buffer as plain
linear bytes (the banked window and the linear frame buffer).

The render functions produce 24-bit RGB rows from the memory as the CRTC would fetch it
(start address, offset, byte/word/doubleword addressing, row scan, scan doubling, line
compare, the CGA address substitutions) and the attribute controller would shift it out.
vga.py computes the parameters from the registers and hands them in.
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcmp, memcpy, memset
from core.bus cimport Bus, PAGE_SHIFT, PAGE_SIZE, capture_pages, restore_pages

# A 4-bit plane set -> a 32-bit mask with 0xFF in the byte of each plane in the set.
cdef uint32_t EXPAND[16]
cdef int _i
for _i in range(16):
    EXPAND[_i] = ((0xFF if _i & 1 else 0) | (0xFF00 if _i & 2 else 0)
                  | (0xFF0000 if _i & 4 else 0) | (0xFF000000 if _i & 8 else 0))


cdef class VideoMemory:
    """Display memory plus the graphics controller's data path.

    The register-derived fields are set by vga.py (`configure`); the CPU side is
    `read(addr, width)` / `write(addr, width, value)` with physical addresses.
    """
    cdef uint8_t* vram
    cdef readonly uint32_t size
    cdef public uint32_t latch
    # graphics controller / sequencer state, as decoded by configure()
    cdef int write_mode, read_mode, rotate, func, map_mask, read_map, bit_mask
    cdef uint32_t set_reset32, esr32, cc32, dc32, bm32
    cdef bint chain4, oe_write, oe_read, ram_enabled
    cdef uint32_t win_start, win_end
    # Bochs VBE: linear bytes through the A0000 window (bpp > 4), the bank offset (bytes
    # when linear, plane offset when planar) and the plane offset mask.
    cdef bint vbe_linear
    cdef uint32_t bank_off, plane_mask
    # statistics for info(): CPU accesses through the window
    cdef public uint64_t reads, writes
    # the linear frame buffer mapping on the bus (page numbers), 0 pages when unmapped
    cdef Bus _bus
    cdef uint32_t _lfb_page, _lfb_pages

    def __cinit__(self, uint32_t size):
        if size < 0x40000 or size & (size - 1):
            raise ValueError("video memory must be a power of two of at least 256 KiB, "
                             "not %d" % size)
        self.vram = <uint8_t*>calloc(size, 1)
        if self.vram == NULL:
            raise MemoryError("cannot allocate %d bytes of video memory" % size)
        self.size = size
        self.plane_mask = 0xFFFF
        self.map_mask = 0xF
        self.bit_mask = 0xFF
        self.bm32 = 0xFFFFFFFF
        self.ram_enabled = True
        self.win_start = 0xA0000
        self.win_end = 0xC0000

    def __dealloc__(self):
        free(self.vram)

    def configure(self, *, int write_mode, int read_mode, int rotate, int func,
                  int map_mask, int read_map, int bit_mask, int set_reset,
                  int enable_set_reset, int color_compare, int color_dont_care,
                  bint chain4, bint oe_write, bint oe_read, bint ram_enabled,
                  uint32_t win_start, uint32_t win_end, bint vbe_linear,
                  uint32_t bank_off, uint32_t plane_mask):
        """Load the decoded register state the data path depends on."""
        self.write_mode = write_mode & 3
        self.read_mode = read_mode & 1
        self.rotate = rotate & 7
        self.func = func & 3
        self.map_mask = map_mask & 0xF
        self.read_map = read_map & 3
        self.bit_mask = bit_mask & 0xFF
        self.bm32 = <uint32_t>(bit_mask & 0xFF) * 0x01010101
        self.set_reset32 = EXPAND[set_reset & 0xF]
        self.esr32 = EXPAND[enable_set_reset & 0xF]
        self.cc32 = EXPAND[color_compare & 0xF]
        self.dc32 = EXPAND[color_dont_care & 0xF]
        self.chain4 = chain4
        self.oe_write = oe_write
        self.oe_read = oe_read
        self.ram_enabled = ram_enabled
        self.win_start = win_start
        self.win_end = win_end
        self.vbe_linear = vbe_linear
        self.bank_off = bank_off
        self.plane_mask = plane_mask

    # ------------------------------------------------------------------ CPU path
    cdef inline uint32_t _alu(self, uint32_t v) noexcept:
        # Data Rotate register bits 3-4: the function combining data with the latches.
        if self.func == 1:
            return v & self.latch
        if self.func == 2:
            return v | self.latch
        if self.func == 3:
            return v ^ self.latch
        return v

    cdef uint8_t read_byte(self, uint32_t addr) noexcept:
        cdef uint32_t off, o, x
        cdef int plane
        if addr < self.win_start or addr >= self.win_end or not self.ram_enabled:
            return 0xFF            # not decoded: the bus floats
        off = addr - self.win_start
        if self.vbe_linear:
            o = self.bank_off + off
            return self.vram[o] if o < self.size else 0xFF
        if self.chain4:
            plane = off & 3
            o = off & ~(<uint32_t>3)
        elif self.oe_read:
            plane = (self.read_map & 2) | (off & 1)
            o = off & ~(<uint32_t>1)
        else:
            plane = self.read_map
            o = off
        o = (o + self.bank_off) & self.plane_mask
        # Every read loads all four latches (GC read modes, "latches").
        self.latch = (<uint32_t*>self.vram)[o]
        if self.read_mode == 0:
            return (self.latch >> (8 * plane)) & 0xFF
        # Read mode 1: 1 where the planes not masked by Color Don't Care equal Color Compare.
        x = (self.latch ^ self.cc32) & self.dc32
        x |= x >> 16
        x |= x >> 8
        return (~x) & 0xFF

    cdef void write_byte(self, uint32_t addr, uint32_t d) noexcept:
        cdef uint32_t off, o, v, m, mm
        cdef uint32_t* p
        cdef int pm
        if addr < self.win_start or addr >= self.win_end or not self.ram_enabled:
            return
        off = addr - self.win_start
        if self.vbe_linear:
            o = self.bank_off + off
            if o < self.size:
                self.vram[o] = d
            return
        if self.chain4:
            pm = self.map_mask & (1 << (off & 3))
            o = off & ~(<uint32_t>3)
        elif self.oe_write:
            pm = self.map_mask & (5 << (off & 1))
            o = off & ~(<uint32_t>1)
        else:
            pm = self.map_mask
            o = off
        if pm == 0:
            return
        o = (o + self.bank_off) & self.plane_mask
        d &= 0xFF
        if self.write_mode == 0:
            if self.rotate:
                d = ((d >> self.rotate) | (d << (8 - self.rotate))) & 0xFF
            v = d * 0x01010101
            v = (v & ~self.esr32) | (self.set_reset32 & self.esr32)
            v = self._alu(v)
            v = (v & self.bm32) | (self.latch & ~self.bm32)
        elif self.write_mode == 1:
            v = self.latch
        elif self.write_mode == 2:
            v = self._alu(EXPAND[d & 0xF])
            v = (v & self.bm32) | (self.latch & ~self.bm32)
        else:
            if self.rotate:
                d = ((d >> self.rotate) | (d << (8 - self.rotate))) & 0xFF
            mm = (d & self.bit_mask) * 0x01010101
            v = self._alu(self.set_reset32)
            v = (v & mm) | (self.latch & ~mm)
        m = EXPAND[pm]
        p = (<uint32_t*>self.vram) + o
        p[0] = (p[0] & ~m) | (v & m)

    cpdef uint32_t read(self, uint32_t addr, int width):
        """A CPU read of `width` bytes at physical `addr` (bytes low first, as the
        8/16-bit bus cycles of an ISA card take them)."""
        self.reads += 1
        if width == 1:
            return self.read_byte(addr)
        cdef uint32_t v = 0
        cdef int i
        for i in range(width):
            v |= (<uint32_t>self.read_byte(addr + i)) << (8 * i)
        return v

    cpdef void write(self, uint32_t addr, int width, uint32_t value):
        """A CPU write of `width` bytes at physical `addr`."""
        self.writes += 1
        if width == 1:
            self.write_byte(addr, value & 0xFF)
            return
        cdef int i
        for i in range(width):
            self.write_byte(addr + i, (value >> (8 * i)) & 0xFF)

    # ------------------------------------------------------------------ direct access
    def plane_byte(self, int plane, uint32_t offset):
        """Byte `offset` of plane `plane` (no side effects)."""
        return self.vram[((offset & (self.size // 4 - 1)) << 2) | (plane & 3)]

    def set_plane_byte(self, int plane, uint32_t offset, int value):
        self.vram[((offset & (self.size // 4 - 1)) << 2) | (plane & 3)] = value & 0xFF

    def plane(self, int plane, uint32_t offset=0, uint32_t length=0x10000):
        """`length` bytes of one plane from `offset`."""
        cdef bytearray out = bytearray(length)
        cdef uint32_t i, pm = self.size // 4 - 1
        for i in range(length):
            out[i] = self.vram[(((offset + i) & pm) << 2) | (plane & 3)]
        return bytes(out)

    def load_plane(self, int plane, uint32_t offset, data):
        """Write bytes into one plane from `offset` (a host-side load, e.g. a font)."""
        cdef const unsigned char[:] mv = bytes(data)
        cdef Py_ssize_t i
        cdef uint32_t pm = self.size // 4 - 1
        for i in range(mv.shape[0]):
            self.vram[(((offset + i) & pm) << 2) | (plane & 3)] = mv[i]

    def read_linear(self, uint32_t offset, uint32_t length):
        """`length` bytes of the buffer from `offset` (the VBE linear view)."""
        if <uint64_t>offset + length > self.size:
            raise ValueError("0x%X+0x%X is outside the video memory" % (offset, length))
        return (<char*>self.vram + offset)[:length]

    def write_linear(self, uint32_t offset, data):
        cdef bytes b = bytes(data)
        if <uint64_t>offset + len(b) > self.size:
            raise ValueError("0x%X+0x%X is outside the video memory" % (offset, len(b)))
        memcpy(self.vram + offset, <const char*>b, len(b))

    def pages(self, list prev=None):
        """The buffer as 4 KiB pages for a snapshot (core/snapshot.Pages): None for a page
        of zeros, a page equal to the one in `prev` (an earlier result) shared."""
        return capture_pages(self.vram, self.size // PAGE_SIZE, prev)

    def set_pages(self, list pages):
        if self.size % PAGE_SIZE:
            raise ValueError("video memory of %d bytes is not whole pages" % self.size)
        restore_pages(self.vram, self.size // PAGE_SIZE, pages, "video memory")

    def clear(self, uint32_t offset=0, length=None):
        cdef uint32_t n = self.size - offset if length is None else length
        if <uint64_t>offset + n > self.size:
            n = self.size - offset
        memset(self.vram + offset, 0, n)

    def text_cells(self, uint32_t start, int cols, int rows, uint32_t pitch, int addr_shift):
        """Character and attribute bytes (plane 0, plane 1) of a text screen, row by row:
        2 * cols * rows bytes."""
        cdef bytearray out = bytearray(2 * cols * rows)
        cdef int r, c
        cdef uint32_t o, pmask = self.plane_mask
        for r in range(rows):
            for c in range(cols):
                o = (((start + r * pitch + c) << addr_shift) & pmask) << 2
                out[2 * (r * cols + c)] = self.vram[o]
                out[2 * (r * cols + c) + 1] = self.vram[o + 1]
        return bytes(out)

    # ------------------------------------------------------------------ the LFB
    def map_lfb(self, Bus bus, uint32_t base, uint32_t size):
        """Map `size` bytes of the buffer at physical `base` as RAM-like pages: the CPU
        reads and writes them through the bus's page pointers with no call at all."""
        cdef uint32_t i, n
        self.unmap_lfb()
        if base & (PAGE_SIZE - 1) or size & (PAGE_SIZE - 1) or size > self.size:
            raise ValueError("LFB 0x%X+0x%X is not page aligned or larger than VRAM" % (base, size))
        if <uint64_t>base + size > 0x100000000:
            raise ValueError("LFB at 0x%X runs past 4 GiB" % base)
        n = size >> PAGE_SHIFT
        for i in range(n):
            bus._release_rom_page((base >> PAGE_SHIFT) + i)
            bus._mmio.pop((base >> PAGE_SHIFT) + i, None)
            bus.rptr[(base >> PAGE_SHIFT) + i] = self.vram + (<uint64_t>i << PAGE_SHIFT)
            bus.wptr[(base >> PAGE_SHIFT) + i] = self.vram + (<uint64_t>i << PAGE_SHIFT)
            # The bus keeps the buffer alive while a page of it is mapped.
            bus._rom_pages[(base >> PAGE_SHIFT) + i] = self
        bus.map_gen += 1
        self._bus = bus
        self._lfb_page = base >> PAGE_SHIFT
        self._lfb_pages = n

    def unmap_lfb(self):
        """Return the LFB's pages to 'unmapped' (all ones on read)."""
        cdef uint32_t i
        if self._bus is None:
            return
        for i in range(self._lfb_pages):
            if self._bus.rptr[self._lfb_page + i] == self.vram + (<uint64_t>i << PAGE_SHIFT):
                self._bus.rptr[self._lfb_page + i] = NULL
                self._bus.wptr[self._lfb_page + i] = NULL
                self._bus._rom_pages.pop(self._lfb_page + i, None)
        self._bus.map_gen += 1
        self._bus = None
        self._lfb_pages = 0

    # ------------------------------------------------------------------ scan-out
    def render_text(self, uint32_t start, int cols, int vde, int char_h, int char_w,
                    uint32_t pitch, int addr_shift, int sd, int preset, int line_compare,
                    uint32_t map_a, uint32_t map_b, bytes palette, bint blink_attr,
                    bint lga, int cursor_ma, int cur_start, int cur_end,
                    bint cursor_visible, bint blink_on, int underline):
        """An alphanumeric screen as RGB bytes; returns (bytes, width, height).

        Characters come from plane 0 and attributes from plane 1 at the CRTC address,
        the glyph rows from plane 2 at the character map chosen by attribute bit 3.
        `palette` holds 16 RGB triplets (attribute palette, colour select and DAC
        already applied).
        """
        cdef int width = cols * char_w
        cdef uint32_t pmask = self.plane_mask
        cdef const unsigned char* pal = palette
        cdef bytearray out
        cdef unsigned char* dst
        cdef int sl, rs, c, x, bit, fg, bg, ch, at, glyph, height = 0, ys
        cdef uint32_t row, ma, o, cmap
        cdef bint on, is_cursor
        cdef list lines = []
        if char_h <= 0 or cols <= 0:
            return b"", 0, 0
        row = start
        rs = preset % char_h if char_h else 0
        # count the emitted lines first so the buffer is allocated once
        ys = 0
        for sl in range(vde):
            if not sd or (sl & 1) == 0:
                ys += 1
        out = bytearray(width * 3 * ys)
        dst = out
        for sl in range(vde):
            if not sd or (sl & 1) == 0:
                for c in range(cols):
                    ma = row + c
                    o = ((ma << addr_shift) & pmask) << 2
                    ch = self.vram[o]
                    at = self.vram[o + 1]
                    cmap = map_a if at & 8 else map_b
                    glyph = self.vram[(((cmap + ch * 32 + rs) & pmask) << 2) | 2]
                    fg = at & 0x0F
                    bg = (at >> 4) & (0x07 if blink_attr else 0x0F)
                    if blink_attr and (at & 0x80) and not blink_on:
                        glyph = 0
                    if underline >= 0 and rs == underline and (at & 0x77) == 0x01:
                        glyph = 0xFF
                    is_cursor = (cursor_visible and <int>ma == cursor_ma
                                 and cur_start <= rs <= cur_end)
                    if is_cursor:
                        glyph = 0xFF
                    for x in range(char_w):
                        if x < 8:
                            on = (glyph >> (7 - x)) & 1
                        else:
                            # the ninth dot repeats the eighth for the line-drawing
                            # characters C0-DF when LGA is set, else background
                            on = lga and 0xC0 <= ch <= 0xDF and (glyph & 1)
                            if is_cursor:
                                on = True
                        bit = fg if on else bg
                        dst[0] = pal[bit * 3]
                        dst[1] = pal[bit * 3 + 1]
                        dst[2] = pal[bit * 3 + 2]
                        dst += 3
                height += 1
                if height >= ys:
                    break
            if sl == line_compare:
                # the line counter matched: the next line starts from address 0
                row = 0
                rs = 0
            elif not sd or (sl & 1) == 1:
                rs += 1
                if rs >= char_h:
                    rs = 0
                    row += pitch
        return bytes(out), width, height

    def render_graphics(self, uint32_t start, int char_clocks, int vde, int msl,
                        uint32_t pitch, int addr_shift, int sd, int line_compare,
                        int shift_mode, bint cms, bint srs, int pan, bytes palette,
                        int plane_enable):
        """A graphics screen as RGB bytes; returns (bytes, width, height).

        shift_mode 0: planar, one bit from each plane per pixel, 8 pixels per character
        clock; 1: the CGA-compatible interleave (GC Mode bit 5), 2 bits per pixel;
        2: 256-colour (GC Mode bit 6), one plane byte per pixel, 4 pixels per clock.
        `palette` maps the pixel value to RGB: 16 triplets (shift modes 0, 1: attribute
        palette applied) or 256 (shift mode 2: DAC with the PEL mask applied).
        Lines of a character row that would repeat the same memory are shown once, so
        mode 13h comes out as 320x200, not as its 400 physical scan lines.
        """
        cdef int ppc = 4 if shift_mode == 2 else 8
        cdef int width = char_clocks * ppc
        cdef int total = (char_clocks + 1) * ppc
        cdef uint32_t pmask = self.plane_mask
        cdef const unsigned char* pal = palette
        cdef int npal = len(palette) // 3
        cdef bytearray out, linebuf
        cdef unsigned char* dst
        cdef unsigned char* lb
        cdef int sl, rs, c, x, k, v, ys, height = 0, pan_px
        cdef uint32_t row, ma, o, lat
        cdef bint collapse = not cms and not srs
        cdef bint emit
        if char_clocks <= 0:
            return b"", 0, 0
        pan_px = (pan & 7) >> 1 if shift_mode == 2 else (pan & 7)
        # first pass: which physical lines are shown
        ys = 0
        rs = 0
        for sl in range(vde):
            if (not sd or (sl & 1) == 0) and (not collapse or rs == 0):
                ys += 1
            if not sd or (sl & 1) == 1:
                rs = 0 if rs >= msl else rs + 1
        out = bytearray(width * 3 * ys)
        linebuf = bytearray(total)
        lb = linebuf
        dst = out
        row = start
        rs = 0
        for sl in range(vde):
            emit = (not sd or (sl & 1) == 0) and (not collapse or rs == 0)
            if emit and height < ys:
                for c in range(char_clocks + 1):
                    ma = row + c
                    o = (ma << addr_shift)
                    if cms:
                        o = (o & ~(<uint32_t>0x2000)) | ((rs & 1) << 13)
                    if srs:
                        o = (o & ~(<uint32_t>0x4000)) | (((rs >> 1) & 1) << 14)
                    lat = (<uint32_t*>self.vram)[o & pmask]
                    if shift_mode == 2:
                        for k in range(4):
                            lb[c * 4 + k] = (lat >> (8 * k)) & 0xFF
                    elif shift_mode == 1:
                        # pixels 0-3 from planes 0 (and 2), 4-7 from planes 1 (and 3),
                        # two bits each, most significant pair first
                        for k in range(8):
                            x = 8 * (k >> 2) + 6 - 2 * (k & 3)
                            v = ((lat >> x) & 3) | (((lat >> (x + 16)) & 3) << 2)
                            lb[c * 8 + k] = v & plane_enable
                    else:
                        for k in range(8):
                            v = (((lat >> (7 - k)) & 1) | (((lat >> (15 - k)) & 1) << 1)
                                 | (((lat >> (23 - k)) & 1) << 2) | (((lat >> (31 - k)) & 1) << 3))
                            lb[c * 8 + k] = v & plane_enable
                for x in range(width):
                    v = lb[x + pan_px]
                    if v >= npal:
                        v = 0
                    dst[0] = pal[v * 3]
                    dst[1] = pal[v * 3 + 1]
                    dst[2] = pal[v * 3 + 2]
                    dst += 3
                height += 1
            if sl == line_compare:
                # the line counter matched: the next line starts from address 0
                row = 0
                rs = 0
            elif not sd or (sl & 1) == 1:
                if rs >= msl:
                    rs = 0
                    row += pitch
                else:
                    rs += 1
        return bytes(out), width, height

    def render_linear(self, uint32_t start, int width, int height, uint32_t line_bytes,
                      int bpp, bytes palette):
        """A Bochs VBE packed-pixel screen (8, 15, 16, 24, 32 bits per pixel) as RGB
        bytes; 8 bpp goes through `palette` (256 RGB triplets)."""
        cdef bytearray out = bytearray(width * height * 3)
        cdef unsigned char* dst = out
        cdef const unsigned char* pal = palette
        cdef int x, y, bypp = (bpp + 7) // 8
        cdef uint32_t o, v
        if width <= 0 or height <= 0:
            return b"", 0, 0
        for y in range(height):
            o = start + y * line_bytes
            for x in range(width):
                if <uint64_t>o + bypp > self.size:
                    dst[0] = dst[1] = dst[2] = 0
                elif bpp == 8:
                    v = self.vram[o]
                    dst[0] = pal[v * 3]
                    dst[1] = pal[v * 3 + 1]
                    dst[2] = pal[v * 3 + 2]
                elif bpp == 15:
                    v = self.vram[o] | (self.vram[o + 1] << 8)
                    dst[0] = ((v >> 10) & 0x1F) * 255 // 31
                    dst[1] = ((v >> 5) & 0x1F) * 255 // 31
                    dst[2] = (v & 0x1F) * 255 // 31
                elif bpp == 16:
                    v = self.vram[o] | (self.vram[o + 1] << 8)
                    dst[0] = ((v >> 11) & 0x1F) * 255 // 31
                    dst[1] = ((v >> 5) & 0x3F) * 255 // 63
                    dst[2] = (v & 0x1F) * 255 // 31
                else:   # 24 and 32: B, G, R in memory order
                    dst[0] = self.vram[o + 2]
                    dst[1] = self.vram[o + 1]
                    dst[2] = self.vram[o]
                dst += 3
                o += bypp
        return bytes(out), width, height
