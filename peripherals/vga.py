"""The VGA: IBM's Video Graphics Array with the Bochs VBE ("dispi") extension.

Register file (IBM VGA Technical Reference; FreeVGA):

* Miscellaneous Output (write 0x3C2, read 0x3CC), Feature Control (write 0x3BA/0x3DA,
  read 0x3CA), Input Status 0 (0x3C2) and 1 (0x3BA/0x3DA), Video Subsystem Enable 0x3C3;
* sequencer 0x3C4/0x3C5, CRT controller 0x3B4/0x3B5 or 0x3D4/0x3D5 as MISC bit 0 chooses
  (the other pair and its status port are not decoded), graphics controller 0x3CE/0x3CF,
  attribute controller 0x3C0/0x3C1 with its index/data flip-flop (reset by reading
  Input Status 1), DAC 0x3C6-0x3C9;
* the Bochs VBE display interface, index 0x1CE and data 0x1CF (IDs 0xB0C0-0xB0C5), with
  the banked window at A0000 and a linear frame buffer at `lfb_base`.

Display memory and the graphics controller's data path (latches, write modes 0-3, read
modes 0-1, chain-4, odd/even) are C code in peripherals/vga_render.pyx, reached by the bus
for A0000-BFFFF; the linear frame buffer is mapped as RAM-like pages, so the CPU writes it
with no call at all.

Timing is lazy: nothing is scheduled.  Input Status 1 computes the raster position from
`clock.now`, the dot clock chosen by MISC bits 2-3 (25.175 or 28.322 MHz, halved by
Clocking Mode bit 3), the character width and the CRTC totals, so a BIOS or game polling
0x3DA for vertical retrace sees it at the cycle a real card would show it.
"""
import os
import zlib

from peripherals.device import Device
from peripherals.vga_render import VideoMemory

# ---------------------------------------------------------------- constants
DOT_CLOCKS = (25_175_000, 28_322_000)       # MISC bits 2-3 = 0, 1 (2, 3: external)

# Readable bits of each register (the others read as 0 on an IBM VGA).
SEQ_MASKS = (0x03, 0x3D, 0x0F, 0x3F, 0x0E)
GC_MASKS = (0x0F, 0x0F, 0x0F, 0x1F, 0x03, 0x7B, 0x0F, 0x0F, 0xFF)
ATTR_MASKS = (0x3F,) * 16 + (0xEF, 0xFF, 0x3F, 0x0F, 0x0F)
NUM_CRTC = 0x19

# Plane-2 offsets of the eight character maps (Character Map Select register).
CHARMAP_OFFSETS = (0x0000, 0x4000, 0x8000, 0xC000, 0x2000, 0x6000, 0xA000, 0xE000)

# Memory Map Select (GC Miscellaneous bits 2-3): the CPU window.
MEMORY_MAPS = ((0xA0000, 0xC0000), (0xA0000, 0xB0000), (0xB0000, 0xB8000), (0xB8000, 0xC0000))

# Bochs VBE display interface
VBE_DISPI_IOPORT_INDEX = 0x01CE
VBE_DISPI_IOPORT_DATA = 0x01CF
VBE_DISPI_INDEX_ID = 0x0
VBE_DISPI_INDEX_XRES = 0x1
VBE_DISPI_INDEX_YRES = 0x2
VBE_DISPI_INDEX_BPP = 0x3
VBE_DISPI_INDEX_ENABLE = 0x4
VBE_DISPI_INDEX_BANK = 0x5
VBE_DISPI_INDEX_VIRT_WIDTH = 0x6
VBE_DISPI_INDEX_VIRT_HEIGHT = 0x7
VBE_DISPI_INDEX_X_OFFSET = 0x8
VBE_DISPI_INDEX_Y_OFFSET = 0x9
VBE_DISPI_INDEX_VIDEO_MEMORY_64K = 0xA
VBE_DISPI_ID0 = 0xB0C0
VBE_DISPI_ID5 = 0xB0C5
VBE_DISPI_ENABLED = 0x01
VBE_DISPI_GETCAPS = 0x02
VBE_DISPI_8BIT_DAC = 0x20
VBE_DISPI_LFB_ENABLED = 0x40
VBE_DISPI_NOCLEARMEM = 0x80
VBE_DISPI_MAX_XRES = 2560
VBE_DISPI_MAX_YRES = 1600
VBE_DISPI_MAX_BPP = 32
VBE_DISPI_BPPS = (4, 8, 15, 16, 24, 32)
VBE_DISPI_LFB_PHYSICAL_ADDRESS = 0xE0000000
VBE_DISPI_BANK_SIZE = 0x10000

DEFAULT_VRAM = 16 << 20

# Where Debian installs VGA BIOS images (package vgabios; seabios ships its own builds).
VGABIOS_PATHS = (
    "/usr/share/vgabios/vgabios.bin",
    "/usr/share/vgabios/vgabios-stdvga.bin",
    "/usr/share/seabios/vgabios-stdvga.bin",
)

# ---------------------------------------------------------------- code page 437
# The glyphs of the IBM PC character set: 0x00-0x1F and 0x7F are pictures, not control
# codes, on the screen.  0x00 and 0xFF draw as blanks.
_CP437_LOW = (" ☺☻♥♦♣♠•◘○◙♂♀♪♫☼►◄↕‼¶§▬↨↑↓→←∟↔▲▼")
CP437 = tuple(
    _CP437_LOW[i] if i < 0x20 else
    "⌂" if i == 0x7F else
    " " if i == 0xFF else
    bytes([i]).decode("cp437")
    for i in range(256))


def cp437_to_str(data):
    """Bytes of CP437 character codes as the Unicode characters they show."""
    return "".join(CP437[b] for b in data)


# ---------------------------------------------------------------- the VGA BIOS
def find_vga_bios():
    """The path of an installed VGA BIOS image (Debian's vgabios package), or None."""
    for path in VGABIOS_PATHS:
        if os.path.isfile(path):
            return path
    return None


def load_vga_bios(machine, path=None, base=0xC0000):
    """Map a VGA BIOS option ROM at `base` (C0000) as ROM; returns its path.

    The system BIOS finds it by its 55 AA signature and far-calls offset 3 during POST.
    `path` defaults to find_vga_bios().  A missing or malformed file raises an error
    that names it.
    """
    if path is None:
        path = find_vga_bios()
        if path is None:
            raise FileNotFoundError("no VGA BIOS found (install Debian's vgabios package "
                                    "or give a path); looked in " + ", ".join(VGABIOS_PATHS))
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise FileNotFoundError("cannot read VGA BIOS %s: %s" % (path, e.strerror or e)) from None
    if len(data) < 3 or data[0] != 0x55 or data[1] != 0xAA:
        raise ValueError("%s is not an option ROM (no 55 AA signature)" % path)
    if len(data) > 0x20000:
        raise ValueError("%s is %d bytes, larger than the 128 KiB option ROM area"
                         % (path, len(data)))
    machine.bus.map_rom(base, data)
    return path


# ---------------------------------------------------------------- standard modes
# The register values the IBM BIOS programs for a few modes (IBM VGA Technical Reference,
# "BIOS video mode tables"), for machines without a VGA BIOS and for tests:
# (MISC, sequencer 1-4, CRTC 0-0x18, GC 0-8, attribute 0-0x14).
_MODE_TABLES = {
    0x03: (0x67, (0x00, 0x03, 0x00, 0x02),
           (0x5F, 0x4F, 0x50, 0x82, 0x55, 0x81, 0xBF, 0x1F, 0x00, 0x4F, 0x0D, 0x0E, 0x00,
            0x00, 0x00, 0x00, 0x9C, 0x8E, 0x8F, 0x28, 0x1F, 0x96, 0xB9, 0xA3, 0xFF),
           (0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x0E, 0x00, 0xFF),
           (0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14, 0x07, 0x38, 0x39, 0x3A, 0x3B, 0x3C,
            0x3D, 0x3E, 0x3F, 0x0C, 0x00, 0x0F, 0x08, 0x00)),
    0x0D: (0x63, (0x09, 0x0F, 0x00, 0x06),
           (0x2D, 0x27, 0x28, 0x90, 0x2B, 0x80, 0xBF, 0x1F, 0x00, 0xC0, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x9C, 0x8E, 0x8F, 0x14, 0x00, 0x96, 0xB9, 0xE3, 0xFF),
           (0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x0F, 0xFF),
           (0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x10, 0x11, 0x12, 0x13, 0x14,
            0x15, 0x16, 0x17, 0x01, 0x00, 0x0F, 0x00, 0x00)),
    0x12: (0xE3, (0x01, 0x0F, 0x00, 0x06),
           (0x5F, 0x4F, 0x50, 0x82, 0x54, 0x80, 0x0B, 0x3E, 0x00, 0x40, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0xEA, 0x8C, 0xDF, 0x28, 0x00, 0xE7, 0x04, 0xE3, 0xFF),
           (0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x0F, 0xFF),
           (0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14, 0x07, 0x38, 0x39, 0x3A, 0x3B, 0x3C,
            0x3D, 0x3E, 0x3F, 0x01, 0x00, 0x0F, 0x00, 0x00)),
    0x13: (0x63, (0x01, 0x0F, 0x00, 0x0E),
           (0x5F, 0x4F, 0x50, 0x82, 0x54, 0x80, 0xBF, 0x1F, 0x00, 0x41, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x9C, 0x0E, 0x8F, 0x28, 0x40, 0x96, 0xB9, 0xA3, 0xFF),
           (0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x05, 0x0F, 0xFF),
           (0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x0C,
            0x0D, 0x0E, 0x0F, 0x41, 0x00, 0x0F, 0x00, 0x00)),
}


def ega_palette():
    """The 64 colours of the EGA as 6-bit DAC triplets: index bits 5-0 are r g b R G B
    (secondary = 1/3 intensity, primary = 2/3)."""
    out = []
    for i in range(64):
        rgb = []
        for primary, secondary in ((2, 5), (1, 4), (0, 3)):
            rgb.append(((i >> primary) & 1) * 0x2A + ((i >> secondary) & 1) * 0x15)
        out.append(tuple(rgb))
    return out


class Vga(Device):
    """A VGA with `vram_size` bytes of display memory (256 KiB are the four VGA planes;
    the Bochs VBE modes use all of it) and, when `vbe`, the dispi ports and a linear
    frame buffer at physical `lfb_base`."""

    name = "vga"

    def __init__(self, machine, *, vram_size=DEFAULT_VRAM, vbe=True,
                 lfb_base=VBE_DISPI_LFB_PHYSICAL_ADDRESS):
        super().__init__(machine)
        self.mem = VideoMemory(vram_size)
        self.vram_size = vram_size
        self.vbe = vbe
        self.lfb_base = None
        bus = self.bus
        bus.map_mmio(0xA0000, 0x20000, self.mem.read, self.mem.write)
        # The VGA registers are bytes: the bus turns a wider access (OUT DX,AX to an
        # index/data pair) into byte cycles on consecutive ports.
        bus.register_io(0x3B4, 2, self._read8, self._write8, width=1)
        # The status ports are polled in tight loops: they get their own handler.
        bus.register_io(0x3BA, 1, self._status_read, self._write8, width=1)
        bus.register_io(0x3C0, 16, self._read8, self._write8, width=1)
        bus.register_io(0x3D4, 2, self._read8, self._write8, width=1)
        bus.register_io(0x3DA, 1, self._status_read, self._write8, width=1)
        if vbe:
            bus.register_io(VBE_DISPI_IOPORT_INDEX, 2, self._vbe_read, self._vbe_write)
            if lfb_base is not None:
                self.set_lfb_base(lfb_base)
        self.reset()

    # ================================================================ reset / state
    def reset(self):
        """Power-on: all registers 0 (the VGA BIOS programs a mode), DAC black, the
        attribute flip-flop at "index", VBE disabled.  Display memory is kept, as a
        reset does not clear DRAM."""
        self.misc = 0
        self.feature = 0
        self.subsystem_enable = 1
        self.seq_index = 0
        self.seq = [0] * 5
        self.crtc_index = 0
        self.crtc = [0] * NUM_CRTC
        self.gc_index = 0
        self.gc = [0] * 9
        self.gc[8] = 0xFF
        self.attr_index = 0           # bits 0-4 index, bit 5 PAS
        self.attr_flipflop = False    # False: the next 0x3C0 write is an index
        self.attr = [0] * 21
        self.dac = bytearray(768)
        self.dac_write_index = 0
        self.dac_read_index = 0
        self.dac_write_comp = 0
        self.dac_read_comp = 0
        self.dac_latch = [0, 0, 0]
        self.dac_state = 0            # 0: write mode, 3: read mode (DAC State register)
        self.pel_mask = 0xFF
        self.vbe_index = 0
        self.vbe_id = VBE_DISPI_ID5
        self.vbe_xres = 640
        self.vbe_yres = 480
        self.vbe_bpp = 8
        self.vbe_enable = 0
        self.vbe_bank = 0
        self.vbe_virt_width = 640
        self.vbe_virt_height = 480
        self.vbe_x_offset = 0
        self.vbe_y_offset = 0
        self._timing = None
        self._epoch = self.clock.now
        self._update_timing()
        self._sync_mem()

    def get_state(self):
        return {
            "misc": self.misc, "feature": self.feature,
            "subsystem_enable": self.subsystem_enable,
            "seq_index": self.seq_index, "seq": list(self.seq),
            "crtc_index": self.crtc_index, "crtc": list(self.crtc),
            "gc_index": self.gc_index, "gc": list(self.gc),
            "attr_index": self.attr_index, "attr_flipflop": self.attr_flipflop,
            "attr": list(self.attr),
            "dac": bytes(self.dac), "dac_write_index": self.dac_write_index,
            "dac_read_index": self.dac_read_index, "dac_write_comp": self.dac_write_comp,
            "dac_read_comp": self.dac_read_comp, "dac_latch": list(self.dac_latch),
            "dac_state": self.dac_state, "pel_mask": self.pel_mask,
            "vbe": {k: getattr(self, "vbe_" + k) for k in (
                "index", "id", "xres", "yres", "bpp", "enable", "bank", "virt_width",
                "virt_height", "x_offset", "y_offset")},
            "latch": self.mem.latch,
            # the raster's phase: cycles since the current timing took effect
            "epoch_offset": self.clock.now - self._epoch,
            "vram_size": self.vram_size,
            "vram_pages": self._vram_pages(),
        }

    def _vram_pages(self):
        # Video memory as pages (core/snapshot.Pages): a series of snapshots shares the
        # pages that did not change, as RAM's do.
        from core.snapshot import Pages
        pages = self.mem.pages(getattr(self, "_last_pages", None))
        self._last_pages = pages
        return Pages(pages)

    def set_state(self, state):
        if state["vram_size"] != self.vram_size:
            raise ValueError("snapshot has %d bytes of video memory, this VGA has %d"
                             % (state["vram_size"], self.vram_size))
        for k in ("misc", "feature", "subsystem_enable", "seq_index", "crtc_index",
                  "gc_index", "attr_index", "attr_flipflop", "dac_write_index",
                  "dac_read_index", "dac_write_comp", "dac_read_comp", "dac_state",
                  "pel_mask"):
            setattr(self, k, state[k])
        self.seq = list(state["seq"])
        self.crtc = list(state["crtc"])
        self.gc = list(state["gc"])
        self.attr = list(state["attr"])
        self.dac = bytearray(state["dac"])
        self.dac_latch = list(state["dac_latch"])
        for k, v in state["vbe"].items():
            setattr(self, "vbe_" + k, v)
        if "vram_pages" in state:
            self.mem.set_pages(list(state["vram_pages"]))
        else:
            self.mem.write_linear(0, zlib.decompress(state["vram_zlib"]))
        self.mem.latch = state["latch"]
        self._timing = None
        self._update_timing()
        self._epoch = self.clock.now - state["epoch_offset"]
        self._sync_mem()

    # ================================================================ port dispatch
    def _crtc_base(self):
        # MISC bit 0 (I/O Address Select): 0x3Bx (monochrome) or 0x3Dx (colour).
        return 0x3D0 if self.misc & 1 else 0x3B0

    def _read8(self, port, width=1):
        if 0x3B0 <= port <= 0x3BF or 0x3D0 <= port <= 0x3DF:
            low = port & 0xF
            if (port & 0xFFF0) != self._crtc_base():
                return 0xFF
            if low == 0x4:
                return self.crtc_index
            if low == 0x5:
                i = self.crtc_index
                return self.crtc[i] if i < NUM_CRTC else 0
            if low == 0xA:
                return self.input_status_1()
            return 0xFF
        if port == 0x3C0:
            return self.attr_index
        if port == 0x3C1:
            i = self.attr_index & 0x1F
            return self.attr[i] if i < len(self.attr) else 0
        if port == 0x3C2:
            return self.input_status_0()
        if port == 0x3C3:
            return self.subsystem_enable
        if port == 0x3C4:
            return self.seq_index
        if port == 0x3C5:
            i = self.seq_index
            return self.seq[i] if i < 5 else 0
        if port == 0x3C6:
            return self.pel_mask
        if port == 0x3C7:
            return self.dac_state
        if port == 0x3C8:
            return self.dac_write_index
        if port == 0x3C9:
            v = self.dac[self.dac_read_index * 3 + self.dac_read_comp]
            self.dac_read_comp += 1
            if self.dac_read_comp == 3:
                self.dac_read_comp = 0
                self.dac_read_index = (self.dac_read_index + 1) & 0xFF
            return v
        if port == 0x3CA:
            return self.feature
        if port == 0x3CC:
            return self.misc
        if port == 0x3CE:
            return self.gc_index
        if port == 0x3CF:
            i = self.gc_index
            return self.gc[i] if i < 9 else 0
        return 0xFF

    def _write8(self, port, width, v):
        if 0x3B0 <= port <= 0x3BF or 0x3D0 <= port <= 0x3DF:
            low = port & 0xF
            if (port & 0xFFF0) != self._crtc_base():
                return
            if low == 0x4:
                self.crtc_index = v & 0x3F
            elif low == 0x5:
                self._write_crtc(self.crtc_index, v)
            elif low == 0xA:
                self.feature = v & 0x03
            return
        if port in (0x3C0, 0x3C1):
            if not self.attr_flipflop:
                self.attr_index = v & 0x3F
            else:
                i = self.attr_index & 0x1F
                if i < 16:
                    # Written whatever PAS (index bit 5) says.  IBM's first VGA (the
                    # "type 1" on the PS/2 planar) ignored palette writes while PAS was 1;
                    # the VGA adapters and the clones do not [IBM VGA Technical Reference,
                    # Attribute Address Register], and the VGA BIOS shipped with Bochs and
                    # QEMU relies on that: int 10h AX=1002h writes the palette with PAS set.
                    self.attr[i] = v & 0x3F
                elif i < len(self.attr):
                    self.attr[i] = v & ATTR_MASKS[i]
            self.attr_flipflop = not self.attr_flipflop
        elif port == 0x3C2:
            self.misc = v & 0xEF
            self._update_timing()
            self._sync_mem()
        elif port == 0x3C3:
            self.subsystem_enable = v & 1
        elif port == 0x3C4:
            self.seq_index = v & 0x07
        elif port == 0x3C5:
            i = self.seq_index
            if i < 5:
                self.seq[i] = v & SEQ_MASKS[i]
                if i == 1:
                    self._update_timing()
                self._sync_mem()
        elif port == 0x3C6:
            self.pel_mask = v
        elif port == 0x3C7:
            self.dac_read_index = v
            self.dac_read_comp = 0
            self.dac_state = 3
        elif port == 0x3C8:
            self.dac_write_index = v
            self.dac_write_comp = 0
            self.dac_state = 0
        elif port == 0x3C9:
            self.dac_latch[self.dac_write_comp] = v if self._dac_8bit() else v & 0x3F
            self.dac_write_comp += 1
            if self.dac_write_comp == 3:
                # The entry changes when its third component arrives.
                j = self.dac_write_index * 3
                self.dac[j:j + 3] = bytes(self.dac_latch)
                self.dac_write_comp = 0
                self.dac_write_index = (self.dac_write_index + 1) & 0xFF
        elif port == 0x3CE:
            self.gc_index = v & 0x0F
        elif port == 0x3CF:
            i = self.gc_index
            if i < 9:
                self.gc[i] = v & GC_MASKS[i]
                self._sync_mem()

    def _write_crtc(self, i, v):
        if i >= NUM_CRTC:
            return
        if i <= 7 and self.crtc[0x11] & 0x80:
            # CRTC protect (Vertical Retrace End bit 7): registers 0-7 are read-only,
            # except the line compare bit 8 in the Overflow register.
            if i != 7:
                return
            v = (self.crtc[7] & ~0x10) | (v & 0x10)
        self.crtc[i] = v
        if i <= 0x12 or i == 0x17:
            self._update_timing()

    def _dac_8bit(self):
        return bool(self.vbe_enable & VBE_DISPI_8BIT_DAC)

    # ================================================================ memory path
    def _vbe_active(self):
        return bool(self.vbe and self.vbe_enable & VBE_DISPI_ENABLED)

    def _sync_mem(self):
        """Hand the registers the CPU's memory path depends on to VideoMemory."""
        seq, gc = self.seq, self.gc
        win_start, win_end = MEMORY_MAPS[(gc[6] >> 2) & 3]
        vbe = self._vbe_active()
        vbe_linear = vbe and self.vbe_bpp != 4
        if vbe:
            # The Bochs VBE banked window is A0000-AFFFF, VBE_DISPI_BANK_SIZE per bank.
            win_start, win_end = 0xA0000, 0xB0000
            bank_off = self.vbe_bank * VBE_DISPI_BANK_SIZE
            plane_mask = self.vram_size // 4 - 1
        else:
            bank_off = 0
            plane_mask = 0xFFFF
        self.mem.configure(
            write_mode=gc[5] & 3, read_mode=(gc[5] >> 3) & 1, rotate=gc[3] & 7,
            func=(gc[3] >> 3) & 3, map_mask=seq[2], read_map=gc[4], bit_mask=gc[8],
            set_reset=gc[0], enable_set_reset=gc[1], color_compare=gc[2],
            color_dont_care=gc[7], chain4=bool(seq[4] & 0x08),
            oe_write=not (seq[4] & 0x04), oe_read=bool(gc[5] & 0x10),
            ram_enabled=bool(self.misc & 0x02) or vbe, win_start=win_start,
            win_end=win_end, vbe_linear=vbe_linear, bank_off=bank_off,
            plane_mask=plane_mask)

    # ================================================================ raster timing
    def _update_timing(self):
        """Recompute the CRTC timing; when it changes the raster restarts at the top
        of a frame at this cycle (as a monitor resynchronises)."""
        crtc, ov = self.crtc, self.crtc[7]
        dot = DOT_CLOCKS[1] if (self.misc >> 2) & 3 == 1 else DOT_CLOCKS[0]
        if self.seq[1] & 0x08:          # Clocking Mode DCR: dot clock / 2
            dot //= 2
        char_w = 8 if self.seq[1] & 0x01 else 9
        htotal = crtc[0] + 5
        hde = crtc[1] + 1
        vtotal = (crtc[6] | (ov & 0x01) << 8 | (ov & 0x20) << 4) + 2
        vde = (crtc[0x12] | (ov & 0x02) << 7 | (ov & 0x40) << 3) + 1
        vrs = crtc[0x10] | (ov & 0x04) << 6 | (ov & 0x80) << 2
        # Vertical Retrace End holds the low 4 bits of the line at which retrace ends.
        vr_len = ((crtc[0x11] & 0x0F) - vrs) & 0x0F or 16
        t = (dot, char_w, htotal, hde, vtotal, vde, vrs, vr_len)
        if t != self._timing:
            self._timing = t
            self._epoch = self.clock.now
        # For input_status_1: char clocks = (now - epoch) * _num // _den.
        self._num = dot
        self._den = self.clock.frequency * char_w
        self._frame = htotal * vtotal

    def raster_position(self, now=None):
        """(scan line, character clock) of the raster at cycle `now` (default: now),
        counted from the top left of the frame."""
        dot, char_w, htotal, hde, vtotal, vde, vrs, vr_len = self._timing
        if now is None:
            now = self.clock.now
        k = (now - self._epoch) * dot // (self.clock.frequency * char_w)
        pos = k % (htotal * vtotal)
        return pos // htotal, pos % htotal

    def frame_number(self, now=None):
        """Frames completed since the current timing took effect."""
        dot, char_w, htotal, hde, vtotal, vde, vrs, vr_len = self._timing
        if now is None:
            now = self.clock.now
        return (now - self._epoch) * dot // (self.clock.frequency * char_w) // (htotal * vtotal)

    def _status_read(self, port, width):
        if (port & 0xFFF0) != self._crtc_base():
            return 0xFF
        return self.input_status_1()

    def input_status_1(self):
        """Input Status 1 (0x3DA/0x3BA).  Reading it also resets the attribute
        controller's flip-flop to "index".  Bit 3 (VR): vertical retrace is active;
        bit 0 (DD): the display is disabled (the raster is outside the active area, in
        horizontal or vertical blanking/retrace)."""
        self.attr_flipflop = False
        dot, char_w, htotal, hde, vtotal, vde, vrs, vr_len = self._timing
        line, col = divmod((self.clock.now - self._epoch) * self._num // self._den % self._frame,
                           htotal)
        v = 0
        if line >= vde or col >= hde:
            v |= 0x01
        if (line - vrs) % vtotal < vr_len:
            v |= 0x08
        return v

    def input_status_0(self):
        """Input Status 0 (0x3C2): no CRT interrupt pending, switch sense 0."""
        return 0x00

    # ================================================================ Bochs VBE
    def _vbe_read(self, port, width):
        if port == VBE_DISPI_IOPORT_INDEX:
            return self.vbe_index
        return self.vbe_register(self.vbe_index)

    def _vbe_write(self, port, width, value):
        if port == VBE_DISPI_IOPORT_INDEX:
            self.vbe_index = value & 0xFFFF
        else:
            self.vbe_write_register(self.vbe_index, value & 0xFFFF)

    def vbe_register(self, index):
        """The value a read of dispi register `index` returns."""
        caps = self.vbe_enable & VBE_DISPI_GETCAPS
        if index == VBE_DISPI_INDEX_ID:
            return self.vbe_id
        if index == VBE_DISPI_INDEX_XRES:
            return VBE_DISPI_MAX_XRES if caps else self.vbe_xres
        if index == VBE_DISPI_INDEX_YRES:
            return VBE_DISPI_MAX_YRES if caps else self.vbe_yres
        if index == VBE_DISPI_INDEX_BPP:
            return VBE_DISPI_MAX_BPP if caps else self.vbe_bpp
        if index == VBE_DISPI_INDEX_ENABLE:
            return self.vbe_enable
        if index == VBE_DISPI_INDEX_BANK:
            return self.vbe_bank
        if index == VBE_DISPI_INDEX_VIRT_WIDTH:
            return self.vbe_virt_width
        if index == VBE_DISPI_INDEX_VIRT_HEIGHT:
            return self.vbe_virt_height
        if index == VBE_DISPI_INDEX_X_OFFSET:
            return self.vbe_x_offset
        if index == VBE_DISPI_INDEX_Y_OFFSET:
            return self.vbe_y_offset
        if index == VBE_DISPI_INDEX_VIDEO_MEMORY_64K:
            return self.vram_size >> 16
        return 0

    def _line_bytes(self, virt_width, bpp):
        if bpp == 4:
            return virt_width // 8       # per plane
        return virt_width * ((bpp + 7) // 8)

    def _vbe_mem(self, bpp):
        return self.vram_size // 4 if bpp == 4 else self.vram_size

    def vbe_write_register(self, index, v):
        """A write of `v` to dispi register `index`."""
        enabled = self.vbe_enable & VBE_DISPI_ENABLED
        if index == VBE_DISPI_INDEX_ID:
            if VBE_DISPI_ID0 <= v <= VBE_DISPI_ID5:
                self.vbe_id = v
        elif index in (VBE_DISPI_INDEX_XRES, VBE_DISPI_INDEX_YRES, VBE_DISPI_INDEX_BPP):
            # The geometry may not change while the mode is displayed.
            if enabled:
                return
            if index == VBE_DISPI_INDEX_XRES:
                if v <= VBE_DISPI_MAX_XRES:
                    self.vbe_xres = v
            elif index == VBE_DISPI_INDEX_YRES:
                if v <= VBE_DISPI_MAX_YRES:
                    self.vbe_yres = v
            else:
                v = v or 8              # 0 means 8 (the 0xB0C0 interface)
                if v in VBE_DISPI_BPPS:
                    self.vbe_bpp = v
        elif index == VBE_DISPI_INDEX_ENABLE:
            self._vbe_set_enable(v)
        elif index == VBE_DISPI_INDEX_BANK:
            if v * VBE_DISPI_BANK_SIZE < self._vbe_mem(self.vbe_bpp):
                self.vbe_bank = v
                self._sync_mem()
        elif index == VBE_DISPI_INDEX_VIRT_WIDTH:
            self._vbe_set_virt_width(v)
        elif index == VBE_DISPI_INDEX_X_OFFSET:
            self.vbe_x_offset = v
        elif index == VBE_DISPI_INDEX_Y_OFFSET:
            self.vbe_y_offset = v

    def _vbe_set_virt_width(self, width):
        width = max(width, self.vbe_xres)
        line = self._line_bytes(width, self.vbe_bpp)
        if line == 0:
            return
        height = min(self._vbe_mem(self.vbe_bpp) // line, 0xFFFF)
        if height < self.vbe_yres:
            return                       # does not fit: keep the old width
        self.vbe_virt_width = width
        self.vbe_virt_height = height

    def _vbe_set_enable(self, v):
        v &= (VBE_DISPI_ENABLED | VBE_DISPI_GETCAPS | VBE_DISPI_8BIT_DAC
              | VBE_DISPI_LFB_ENABLED | VBE_DISPI_NOCLEARMEM)
        was = self.vbe_enable & VBE_DISPI_ENABLED
        if v & VBE_DISPI_ENABLED and not was:
            xres, yres, bpp = self.vbe_xres, self.vbe_yres, self.vbe_bpp
            line = self._line_bytes(xres, bpp)
            if (xres == 0 or yres == 0 or (bpp == 4 and xres % 8)
                    or line * yres > self._vbe_mem(bpp)):
                v &= ~VBE_DISPI_ENABLED   # a mode that cannot be shown is not entered
            else:
                self.vbe_virt_width = xres
                self.vbe_virt_height = min(self._vbe_mem(bpp) // line, 0xFFFF)
                self.vbe_x_offset = self.vbe_y_offset = 0
                self.vbe_bank = 0
                if not v & VBE_DISPI_NOCLEARMEM:
                    self.mem.clear()
        self.vbe_enable = v
        self._sync_mem()

    def set_lfb_base(self, base):
        """Move the linear frame buffer to physical `base` (a PCI BAR write), or unmap
        it with None."""
        self.mem.unmap_lfb()
        self.lfb_base = base
        if base is not None:
            self.mem.map_lfb(self.bus, base, self.vram_size)

    # ================================================================ the screen
    def is_text_mode(self):
        """True when the attribute controller shows an alphanumeric mode (and the
        Bochs VBE is off)."""
        return not self._vbe_active() and not self.attr[0x10] & 0x01

    def _text_geometry(self):
        crtc, ov = self.crtc, self.crtc[7]
        cols = crtc[1] + 1
        char_h = (crtc[9] & 0x1F) + 1
        sd = crtc[9] >> 7
        vde = (crtc[0x12] | (ov & 0x02) << 7 | (ov & 0x40) << 3) + 1
        rows = (vde >> sd) // char_h
        start = crtc[0x0C] << 8 | crtc[0x0D]
        pitch = crtc[0x13] * 2
        return cols, rows, char_h, start, pitch, self._addr_shift()

    def _addr_shift(self):
        # CRTC Underline Location bit 6 (DW) / Mode Control bit 6 (byte vs word mode):
        # how the address counter maps to a plane offset.
        if self.crtc[0x14] & 0x40:
            return 2
        if not self.crtc[0x17] & 0x40:
            return 1
        return 0

    def screen_cells(self):
        """The text screen as rows of (character, attribute) pairs, the character as the
        Unicode character its CP437 code shows; [] outside text modes."""
        if not self.is_text_mode():
            return []
        cols, rows, char_h, start, pitch, shift = self._text_geometry()
        raw = self.mem.text_cells(start, cols, rows, pitch, shift)
        return [[(CP437[raw[2 * (r * cols + c)]], raw[2 * (r * cols + c) + 1])
                 for c in range(cols)] for r in range(rows)]

    def screen_text(self):
        """The text screen as a list of lines of str (each as wide as the screen);
        [] outside text modes."""
        if not self.is_text_mode():
            return []
        cols, rows, char_h, start, pitch, shift = self._text_geometry()
        raw = self.mem.text_cells(start, cols, rows, pitch, shift)
        chars = raw[0::2]
        return [cp437_to_str(chars[r * cols:(r + 1) * cols]) for r in range(rows)]

    def cursor(self):
        """(row, column) of the text cursor, or None when it is off or off screen."""
        if not self.is_text_mode() or self.crtc[0x0A] & 0x20:
            return None
        cols, rows, char_h, start, pitch, shift = self._text_geometry()
        d = (self.crtc[0x0E] << 8 | self.crtc[0x0F]) - start
        if d < 0 or pitch == 0:
            return None
        r, c = divmod(d, pitch)
        if r >= rows or c >= cols:
            return None
        return r, c

    def _rgb(self, index):
        j = (index & self.pel_mask) * 3
        r, g, b = self.dac[j], self.dac[j + 1], self.dac[j + 2]
        if self._dac_8bit():
            return r, g, b
        # A 6-bit DAC converts the low six bits of each component: entries written while
        # the 8-bit DAC was on keep their top bits, which it ignores.
        r, g, b = r & 0x3F, g & 0x3F, b & 0x3F
        return (r << 2 | r >> 4), (g << 2 | g >> 4), (b << 2 | b >> 4)

    def palette16(self):
        """RGB of the 16 pixel values of text and 16-colour modes: Color Plane Enable,
        the attribute palette, Color Select (with P54S) and the DAC."""
        attr = self.attr
        out = bytearray()
        for c in range(16):
            p = attr[c & attr[0x12] & 0x0F]
            if attr[0x10] & 0x80:
                p = (p & 0x0F) | (attr[0x14] & 0x03) << 4
            p = (p & 0x3F) | (attr[0x14] & 0x0C) << 4
            out += bytes(self._rgb(p))
        return bytes(out)

    def palette256(self):
        """RGB of the 256 DAC entries (PEL mask applied)."""
        out = bytearray()
        for i in range(256):
            out += bytes(self._rgb(i))
        return bytes(out)

    def display_enabled(self):
        """False while the screen is blanked: Clocking Mode Screen Off, the sequencer
        held in reset, or the attribute controller's palette source (PAS) at the CPU."""
        if self._vbe_active():
            return True
        return bool(self.attr_index & 0x20) and not self.seq[1] & 0x20 and (self.seq[0] & 3) == 3

    def render(self, blink=False):
        """The displayed picture as (RGB bytes, width, height): text from the font in
        plane 2, planar 16-colour, CGA-compatible and 256-colour graphics, or the Bochs
        VBE mode.  `blink` shows the cursor and blinking characters in their phase at
        the current cycle (they blink every 16 and 32 frames); by default they are shown
        steadily."""
        if self._vbe_active():
            image = self._render_vbe()
        elif self.attr[0x10] & 0x01:
            image = self._render_graphics()
        else:
            image = self._render_text(blink)
        if not self.display_enabled():
            data, w, h = image
            image = (bytes(len(data)), w, h)
        return image

    def _render_text(self, blink):
        crtc, ov, attr = self.crtc, self.crtc[7], self.attr
        cols = crtc[1] + 1
        char_h = (crtc[9] & 0x1F) + 1
        char_w = 8 if self.seq[1] & 0x01 else 9
        vde = (crtc[0x12] | (ov & 0x02) << 7 | (ov & 0x40) << 3) + 1
        start = crtc[0x0C] << 8 | crtc[0x0D]
        line_compare = crtc[0x18] | (ov & 0x10) << 4 | (crtc[9] & 0x40) << 3
        cmap = self.seq[3]
        map_a = CHARMAP_OFFSETS[(cmap >> 5 & 1) << 2 | (cmap >> 2 & 3)]
        map_b = CHARMAP_OFFSETS[(cmap >> 4 & 1) << 2 | (cmap & 3)]
        frame = self.frame_number() if blink else 0
        cursor_on = not crtc[0x0A] & 0x20 and not (frame & 16)
        underline = crtc[0x14] & 0x1F if attr[0x10] & 0x02 else -1
        return self.mem.render_text(
            start, cols, vde, char_h, char_w, crtc[0x13] * 2, self._addr_shift(),
            crtc[9] >> 7, crtc[8] & 0x1F, line_compare, map_a, map_b, self.palette16(),
            bool(attr[0x10] & 0x08), bool(attr[0x10] & 0x04),
            crtc[0x0E] << 8 | crtc[0x0F], crtc[0x0A] & 0x1F, crtc[0x0B] & 0x1F,
            cursor_on, not (frame & 32), underline)

    def _render_graphics(self):
        crtc, ov, gc = self.crtc, self.crtc[7], self.gc
        vde = (crtc[0x12] | (ov & 0x02) << 7 | (ov & 0x40) << 3) + 1
        start = crtc[0x0C] << 8 | crtc[0x0D]
        line_compare = crtc[0x18] | (ov & 0x10) << 4 | (crtc[9] & 0x40) << 3
        shift_mode = 2 if gc[5] & 0x40 else 1 if gc[5] & 0x20 else 0
        palette = self.palette256() if shift_mode == 2 else self.palette16()
        return self.mem.render_graphics(
            start, crtc[1] + 1, vde, crtc[9] & 0x1F, crtc[0x13] * 2, self._addr_shift(),
            crtc[9] >> 7, line_compare, shift_mode, not crtc[0x17] & 0x01,
            not crtc[0x17] & 0x02, self.attr[0x13], palette, self.attr[0x12] & 0x0F)

    def _render_vbe(self):
        xres, yres, bpp = self.vbe_xres, self.vbe_yres, self.vbe_bpp
        line = self._line_bytes(self.vbe_virt_width, bpp)
        if bpp == 4:
            start = self.vbe_y_offset * line + self.vbe_x_offset // 8
            return self.mem.render_graphics(
                start, xres // 8, yres, 0, line, 0, 0, -1, 0, False, False,
                self.vbe_x_offset & 7, self.palette16(), 0x0F)
        start = self.vbe_y_offset * line + self.vbe_x_offset * ((bpp + 7) // 8)
        # The offsets are any 16-bit values, so the start can lie far past the video
        # memory (even past 4 GiB); the renderer shows what lies beyond its end as black,
        # so the start it gets need not be larger than that end.
        start = min(start, self.vram_size)
        return self.mem.render_linear(start, xres, yres, line, bpp, self.palette256())

    def screenshot(self, path, blink=False):
        """Write what the screen shows (render()) to `path` as a PNG: text in the guest's
        own font from plane 2, graphics and VBE modes pixel for pixel.  Returns (width,
        height, mode_description())."""
        from core import png
        rgb, width, height = self.render(blink)
        png.write(path, rgb, width, height)
        return width, height, self.mode_description()

    def mode_description(self):
        """A short description of what is displayed, e.g. "text 80x25" or
        "graphics 320x200 256 colours" or "VBE 1024x768x32"."""
        if self._vbe_active():
            return "VBE %dx%dx%d" % (self.vbe_xres, self.vbe_yres, self.vbe_bpp)
        if self.is_text_mode():
            cols, rows, char_h, start, pitch, shift = self._text_geometry()
            return "text %dx%d (%d-line characters)" % (cols, rows, char_h)
        _, w, h = self._render_graphics()
        gc5 = self.gc[5]
        colours = "256" if gc5 & 0x40 else "4" if gc5 & 0x20 else "16"
        return "graphics %dx%d %s colours" % (w, h, colours)

    # ================================================================ helpers
    def set_mode(self, mode):
        """Program the registers of standard mode 3, 0Dh, 12h or 13h as the BIOS does
        (no font and no memory clear; the EGA colours are loaded into DAC 0-63) - for
        machines without a VGA BIOS and for tests."""
        try:
            misc, seq, crtc, gc, attr = _MODE_TABLES[mode]
        except KeyError:
            raise ValueError("no register table for mode 0x%X (have %s)" % (
                mode, ", ".join("%02Xh" % m for m in sorted(_MODE_TABLES)))) from None
        def w(port, value):
            self._write8(port, 1, value)
        w(0x3C4, 0)
        w(0x3C5, 1)                      # synchronous reset while the clock changes
        w(0x3C2, misc)
        for i, v in enumerate(seq, 1):
            w(0x3C4, i)
            w(0x3C5, v)
        w(0x3C4, 0)
        w(0x3C5, 3)
        base = 0x3D4 if misc & 1 else 0x3B4
        w(base, 0x11)
        w(base + 1, crtc[0x11] & 0x7F)   # unprotect 0-7
        for i, v in enumerate(crtc):
            w(base, i)
            w(base + 1, v)
        for i, v in enumerate(gc):
            w(0x3CE, i)
            w(0x3CF, v)
        self._read8(base + 6)            # flip-flop to index
        for i, v in enumerate(attr):
            w(0x3C0, i)
            w(0x3C0, v)
        w(0x3C0, 0x20)                   # PAS: give the palette back to the display
        w(0x3C8, 0)
        for rgb in ega_palette():
            for c in rgb:
                w(0x3C9, c)

    def load_font(self, glyphs, height, charmap=0):
        """Load a font into plane 2, as int 10h AX=1110h does: `glyphs` holds 256
        characters of `height` bytes each; character c goes to offset map + 32 * c."""
        base = CHARMAP_OFFSETS[charmap]
        for c in range(256):
            self.mem.load_plane(2, base + 32 * c, glyphs[c * height:(c + 1) * height])

    # ================================================================ debugger
    def info(self):
        seq = " ".join("%02X" % v for v in self.seq)
        crtc = " ".join("%02X" % v for v in self.crtc)
        gc = " ".join("%02X" % v for v in self.gc)
        attr = " ".join("%02X" % v for v in self.attr)
        line, col = self.raster_position()
        dot, char_w, htotal, hde, vtotal, vde, vrs, vr_len = self._timing
        hz = dot / (char_w * htotal * vtotal) if htotal and vtotal else 0
        lines = [
            "VGA: %s, %d KiB video memory" % (self.mode_description(), self.vram_size >> 10),
            "MISC %02X (CRTC at %Xh, RAM %s)  feature %02X" % (
                self.misc, self._crtc_base() + 4, "on" if self.misc & 2 else "off", self.feature),
            "SEQ  [%X] %s" % (self.seq_index, seq),
            "CRTC [%02X] %s" % (self.crtc_index, crtc),
            "GC   [%X] %s  latches %08X" % (self.gc_index, gc, self.mem.latch),
            "ATTR [%02X %s] %s" % (self.attr_index,
                                   "data" if self.attr_flipflop else "index", attr),
            "DAC  write %02X.%d read %02X.%d %s  PEL mask %02X%s" % (
                self.dac_write_index, self.dac_write_comp, self.dac_read_index,
                self.dac_read_comp, "read" if self.dac_state else "write", self.pel_mask,
                "  8-bit" if self._dac_8bit() else ""),
            "raster line %d, clock %d of %dx%d (%.2f Hz, dot clock %d Hz)" % (
                line, col, htotal, vtotal, hz, dot),
            "memory window accesses: %d reads, %d writes" % (self.mem.reads, self.mem.writes),
        ]
        if self.vbe:
            lines.append(
                "VBE  id %04X enable %02X %dx%dx%d bank %d virtual %dx%d offset %d,%d  LFB %s" % (
                    self.vbe_id, self.vbe_enable, self.vbe_xres, self.vbe_yres, self.vbe_bpp,
                    self.vbe_bank, self.vbe_virt_width, self.vbe_virt_height,
                    self.vbe_x_offset, self.vbe_y_offset,
                    "%08Xh" % self.lfb_base if self.lfb_base is not None else "unmapped"))
        return "\n".join(lines)
