"""The physical bus: one C buffer of RAM, a 4 KiB page map, the I/O port map.

Reads and writes of RAM and ROM go through per-page host pointers (rptr/wptr),
which the CPU uses directly.  MMIO pages and unmapped pages have NULL pointers
and take the slow path here.  Unmapped memory reads all ones and ignores writes,
as an ISA bus with nothing driving the data lines does.
"""
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memcmp, memcpy, memset

DEF_ALL_ONES = 0xFFFFFFFF


cdef class _Buffer:
    """Owns a malloc'd ROM buffer for as long as the bus maps a page of it: the bus's
    page table holds one reference per page, so the last page remapped (to RAM for a
    shadow, to another ROM, to MMIO) drops the last one, which frees the buffer."""
    cdef uint8_t* ptr

    def __dealloc__(self):
        free(self.ptr)


cdef class Bus:
    def __cinit__(self, uint32_t ram_size, int address_bits=32):
        cdef uint32_t npages_ram, i
        if ram_size == 0 or ram_size > 0xF0000000:
            raise ValueError("memory size %d is out of range (1 byte .. 3.75 GiB)" % ram_size)
        # Whole pages only: the page map cannot describe a partial page.
        npages_ram = (ram_size + PAGE_SIZE - 1) >> PAGE_SHIFT
        self.ram_size = npages_ram << PAGE_SHIFT
        self.ram = <uint8_t*>calloc(self.ram_size, 1)
        self.rptr = <uint8_t**>calloc(NPAGES, sizeof(uint8_t*))
        self.wptr = <uint8_t**>calloc(NPAGES, sizeof(uint8_t*))
        if self.ram == NULL or self.rptr == NULL or self.wptr == NULL:
            raise MemoryError("cannot allocate %d bytes of guest RAM" % self.ram_size)
        for i in range(npages_ram):
            self.rptr[i] = self.ram + (<uint64_t>i << PAGE_SHIFT)
            self.wptr[i] = self.rptr[i]
        self.bus_mask = 0xFFFFFFFF if address_bits >= 32 else ((1 << address_bits) - 1)
        self._a20 = True
        self.addr_mask = self.bus_mask
        self._rom_pages = {}
        self._mmio = {}
        self._io = [None] * 65536
        self._io_under = {}
        self.unclaimed_ports = {}
        self.io_observer = None
        self.isa_port = <uint8_t*>calloc(65536, 1)
        if self.isa_port == NULL:
            raise MemoryError("cannot allocate the I/O port map")

    def __dealloc__(self):
        free(self.ram)
        free(self.rptr)
        free(self.wptr)
        free(self.isa_port)

    # ------------------------------------------------------------------ A20
    @property
    def a20(self):
        """The A20 gate: when False, physical address bit 20 is forced to 0 (8086 wrap)."""
        return self._a20

    @a20.setter
    def a20(self, bint on):
        self._a20 = on
        self.addr_mask = self.bus_mask if on else (self.bus_mask & ~(<uint32_t>1 << 20))
        self.map_gen += 1

    @property
    def address_bits(self):
        return 32 if self.bus_mask == 0xFFFFFFFF else self.bus_mask.bit_length()

    # ------------------------------------------------------------------ mapping
    def map_rom(self, uint32_t base, data):
        """Map read-only bytes at physical `base` (page aligned); writes are dropped."""
        cdef bytes b = bytes(data)
        cdef uint32_t n = len(b), npages, i
        cdef uint8_t* buf
        if base & (PAGE_SIZE - 1):
            raise ValueError("ROM base 0x%X is not 4 KiB aligned" % base)
        if n == 0:
            raise ValueError("empty ROM image")
        npages = (n + PAGE_SIZE - 1) >> PAGE_SHIFT
        if <uint64_t>base + (<uint64_t>npages << PAGE_SHIFT) > 0x100000000:
            raise ValueError("ROM at 0x%X of %d bytes runs past 4 GiB" % (base, n))
        buf = <uint8_t*>malloc(npages << PAGE_SHIFT)
        memset(buf, 0xFF, npages << PAGE_SHIFT)
        memcpy(buf, <const char*>b, n)
        cdef _Buffer holder = _Buffer()
        holder.ptr = buf
        for i in range(npages):
            self._release_rom_page((base >> PAGE_SHIFT) + i)
            self._rom_pages[(base >> PAGE_SHIFT) + i] = holder
            self.rptr[(base >> PAGE_SHIFT) + i] = buf + (i << PAGE_SHIFT)
            self.wptr[(base >> PAGE_SHIFT) + i] = NULL
            self._mmio.pop((base >> PAGE_SHIFT) + i, None)
        self.map_gen += 1

    def map_ram(self, uint32_t base, uint32_t size):
        """(Re)map a range of RAM as RAM (e.g. after a ROM shadow is write-enabled)."""
        cdef uint32_t p
        for p in range(base >> PAGE_SHIFT, (base + size + PAGE_SIZE - 1) >> PAGE_SHIFT):
            if (<uint64_t>p << PAGE_SHIFT) >= self.ram_size:
                raise ValueError("page 0x%X is beyond RAM" % (p << PAGE_SHIFT))
            self._release_rom_page(p)
            self.rptr[p] = self.ram + (<uint64_t>p << PAGE_SHIFT)
            self.wptr[p] = self.rptr[p]
            self._mmio.pop(p, None)
        self.map_gen += 1

    def map_mmio(self, uint32_t base, uint32_t size, read, write):
        """Route a page-aligned range to read(addr, width) / write(addr, width, value)."""
        cdef uint32_t p
        if base & (PAGE_SIZE - 1) or size & (PAGE_SIZE - 1):
            raise ValueError("MMIO range 0x%X+0x%X is not page aligned" % (base, size))
        for p in range(base >> PAGE_SHIFT, (base + size) >> PAGE_SHIFT):
            self._release_rom_page(p)
            self.rptr[p] = NULL
            self.wptr[p] = NULL
            self._mmio[p] = (read, write)
        self.map_gen += 1

    def _release_rom_page(self, uint32_t p):
        """Page `p` stops showing a ROM buffer: its last page gone, the buffer is freed."""
        if self._rom_pages.pop(p, None) is not None:
            self.rptr[p] = NULL          # never left pointing into a freed buffer
            self.map_gen += 1            # nor a CPU's host-pointer TLB

    @property
    def rom_buffers(self):
        """How many ROM buffers the page map holds (each freed with its last page)."""
        return len({id(h) for h in self._rom_pages.values()})

    def page_kind(self, uint32_t addr):
        """'ram', 'rom', 'mmio' or 'unmapped' for the page holding physical `addr`."""
        cdef uint32_t p = addr >> PAGE_SHIFT
        if p in self._mmio:
            return "mmio"
        if self.wptr[p] != NULL:
            return "ram"
        if self.rptr[p] != NULL:
            return "rom"
        return "unmapped"

    cdef uint32_t unclaimed_page(self) noexcept:
        """A page number that no RAM, ROM or device decodes, with address bit 20 clear
        so the A20 gate cannot move it: where the CPU sends accesses to physical
        addresses above 4 GiB (PAE), which this board leaves unpopulated."""
        cdef uint32_t p = self._unclaimed
        if (p and self.rptr[p] == NULL and self.wptr[p] == NULL and p not in self._mmio):
            return p
        for p in range((self.ram_size >> PAGE_SHIFT) + 1, NPAGES):
            if (not (p & 0x100) and self.rptr[p] == NULL and self.wptr[p] == NULL
                    and p not in self._mmio):
                self._unclaimed = p
                return p
        return 0

    # ------------------------------------------------------------------ slow paths
    cdef uint32_t slow_read(self, uint32_t addr, int width) noexcept:
        cdef uint32_t v = 0
        cdef int i
        cdef uint8_t* p
        h = self._mmio.get(addr >> PAGE_SHIFT)
        if h is not None:
            try:
                return (<uint32_t>h[0](addr, width)) & (0xFFFFFFFF >> (32 - 8 * width))
            except Exception as e:   # a device bug must not tear down the CPU loop
                _report_device_error("MMIO read 0x%X" % addr, e)
                return 0xFFFFFFFF >> (32 - 8 * width)
        for i in range(width):
            p = self.rptr[((addr + i) & self.addr_mask) >> PAGE_SHIFT]
            if p != NULL:
                v |= (<uint32_t>p[(addr + i) & (PAGE_SIZE - 1)]) << (8 * i)
            else:
                v |= (<uint32_t>0xFF) << (8 * i)
        return v

    cdef void slow_write(self, uint32_t addr, int width, uint32_t value) noexcept:
        cdef int i
        cdef uint8_t* p
        h = self._mmio.get(addr >> PAGE_SHIFT)
        if h is not None:
            try:
                h[1](addr, width, value)
            except Exception as e:
                _report_device_error("MMIO write 0x%X" % addr, e)
            return
        for i in range(width):
            p = self.wptr[((addr + i) & self.addr_mask) >> PAGE_SHIFT]
            if p != NULL:
                p[(addr + i) & (PAGE_SIZE - 1)] = (value >> (8 * i)) & 0xFF

    # ------------------------------------------------------------------ I/O ports
    def register_io(self, int first, int count, read, write, int width=4):
        """Claim ports first..first+count-1: read(port, width) -> int, write(port, width, value).

        `width` is how many bytes the device's data path takes at once: 4 (the default) hands
        it every access whole; 1 makes it an 8-bit device, which the AT bus controller reaches
        with byte cycles at consecutive ports, low byte first, when the CPU does a 16- or
        32-bit IN/OUT (likewise 2, in 16-bit cycles).  The pieces go only to ports of the
        device that decoded the first one (the object whose methods the handlers are); a
        piece that falls on another device's or nobody's port reads all ones and its write
        is dropped.  (On an AT each byte cycle is decoded afresh, so a chip at the next port
        would answer it; the models have always floated such pieces, and still do.)
        """
        if first < 0 or count <= 0 or first + count > 65536:
            raise ValueError("I/O range 0x%X+%d is outside 0..0xFFFF" % (first, count))
        if width not in (1, 2, 4):
            raise ValueError("I/O width %r is not 1, 2 or 4 bytes" % (width,))
        handler = read if read is not None else write
        owner = getattr(handler, "__self__", handler)
        for p in range(first, first + count):
            old = self._io[p]
            if old is not None and old[3] is not owner:
                # A relocatable range (a PCI BAR) put over another device's ports: the
                # positive decode wins while it is there, and the device it covered
                # answers again when it moves away (unregister_io).
                self._io_under[p] = old
            self._io[p] = (read, write, width, owner)

    def io_owner(self, int port):
        """The object whose handlers claim `port` (a device, usually), or None."""
        h = self._io[port & 0xFFFF]
        return None if h is None else h[3]

    def set_isa_timing(self, cpu_hz, on_isa, isa_hz=8_333_333, unclaimed=True):
        """Charge ISA bus time for port I/O to the devices for which `on_isa(owner)` is
        true (the owner of a port is the object whose handlers claim it) and, with
        `unclaimed`, to ports no device claims (the PIIX3 and the AT both run such a
        cycle on ISA, where it ends with nobody answering).  A standard ISA I/O cycle is
        6 bus clocks for an 8-bit device (four wait states) and 3 for a 16-bit one (one
        wait state) [ISA bus specification; Intel 82371SB PIIX3 data sheet, ISA cycles,
        BCLK = PCICLK / 4 = 8.33 MHz]: about 0.72 and 0.36 us, which the CPU spends in
        the IN or OUT.  A 16-bit access to an 8-bit device is two byte cycles."""
        cdef int p
        self.isa8_cycles = (6 * cpu_hz + isa_hz - 1) // isa_hz
        self.isa16_cycles = (3 * cpu_hz + isa_hz - 1) // isa_hz
        for p in range(65536):
            h = self._io[p]
            if h is None:
                self.isa_port[p] = 1 if unclaimed else 0
            elif on_isa(h[3]):
                self.isa_port[p] = 1 if h[2] == 1 else 2
            else:
                self.isa_port[p] = 0

    cdef void isa_time(self, uint32_t port, int width) noexcept:
        cdef uint8_t k = self.isa_port[port]
        if k == 1:
            self.io_stall += self.isa8_cycles * width
        elif k == 2:
            self.io_stall += self.isa16_cycles * ((width + 1) >> 1)

    def unregister_io(self, int first, int count):
        """Release ports first..first+count-1; a claim that register_io covered there
        comes back."""
        for p in range(first, first + count):
            self._io[p] = self._io_under.pop(p, None)

    cdef uint32_t io_read(self, uint32_t port, int width) noexcept:
        cdef uint32_t v
        cdef int piece, i
        cdef tuple h, hi
        port &= 0xFFFF
        if self.isa_port[port]:
            self.isa_time(port, width)
        h = self._io[port]
        if h is None or h[0] is None:
            self.unclaimed_ports[port] = self.unclaimed_ports.get(port, 0) + 1
            v = 0xFFFFFFFF >> (32 - 8 * width)
        else:
            piece = h[2]
            if width <= piece:
                v = _call_read(h[0], port, width)
            else:
                v = 0
                for i in range(0, width, piece):
                    hi = self._io[(port + i) & 0xFFFF]
                    if hi is not None and hi[3] is h[3] and hi[0] is not None:
                        v |= _call_read(hi[0], (port + i) & 0xFFFF, piece) << (8 * i)
                    else:
                        v |= (0xFFFFFFFF >> (32 - 8 * piece)) << (8 * i)
        # The observer sees the access the CPU made, not the bus cycles it became.
        if self.io_observer is not None:
            self.io_observer(port, width, v, False)
        return v

    cdef void io_write(self, uint32_t port, int width, uint32_t value) noexcept:
        cdef int piece, i
        cdef tuple h, hi
        port &= 0xFFFF
        value &= 0xFFFFFFFF >> (32 - 8 * width)
        if self.isa_port[port]:
            self.isa_time(port, width)
        h = self._io[port]
        if self.io_observer is not None:
            self.io_observer(port, width, value, True)
        if h is None or h[1] is None:
            self.unclaimed_ports[port] = self.unclaimed_ports.get(port, 0) + 1
            return
        piece = h[2]
        if width <= piece:
            _call_write(h[1], port, width, value)
            return
        for i in range(0, width, piece):
            hi = self._io[(port + i) & 0xFFFF]
            if hi is not None and hi[3] is h[3] and hi[1] is not None:
                _call_write(hi[1], (port + i) & 0xFFFF, piece,
                            (value >> (8 * i)) & (0xFFFFFFFF >> (32 - 8 * piece)))

    def port_read(self, int port, int width=1):
        return self.io_read(port, width)

    def port_write(self, int port, int width, value):
        # A Python int: a 32-bit value with bit 31 set does not fit a C int.
        self.io_write(port, width, <uint32_t>(value & 0xFFFFFFFF))

    # ------------------------------------------------------------------ physical access (Python API)
    cpdef int read8(self, uint32_t addr):
        cdef uint8_t* p = self.rptr[addr >> PAGE_SHIFT]
        if p != NULL:
            return p[addr & (PAGE_SIZE - 1)]
        return self.slow_read(addr, 1)

    cpdef void write8(self, uint32_t addr, int value):
        cdef uint8_t* p = self.wptr[addr >> PAGE_SHIFT]
        if p != NULL:
            p[addr & (PAGE_SIZE - 1)] = value & 0xFF
        elif self.rptr[addr >> PAGE_SHIFT] == NULL:
            self.slow_write(addr, 1, value & 0xFF)

    def read16(self, uint32_t addr):
        return self.read8(addr) | (self.read8(addr + 1) << 8)

    def read32(self, uint32_t addr):
        return self.read16(addr) | (self.read16(addr + 2) << 16)

    def write16(self, uint32_t addr, value):
        self.write8(addr, value & 0xFF)
        self.write8(addr + 1, (value >> 8) & 0xFF)

    def write32(self, uint32_t addr, value):
        self.write16(addr, value & 0xFFFF)
        self.write16(addr + 2, (value >> 16) & 0xFFFF)

    def read(self, uint32_t addr, Py_ssize_t n):
        """n bytes of physical memory from addr (ROM and MMIO included)."""
        cdef bytearray out = bytearray(n)
        cdef Py_ssize_t i = 0, chunk
        cdef uint32_t a
        cdef uint8_t* p
        while i < n:
            # The 32-bit physical address wraps at 4 GiB, as write() has it (addr + i
            # is 64-bit arithmetic here: past the top it would index beyond the map).
            a = <uint32_t>(addr + i)
            p = self.rptr[a >> PAGE_SHIFT]
            chunk = PAGE_SIZE - (a & (PAGE_SIZE - 1))
            if chunk > n - i:
                chunk = n - i
            if p != NULL:
                out[i:i + chunk] = (<char*>p + (a & (PAGE_SIZE - 1)))[:chunk]
                i += chunk
            else:
                out[i] = self.slow_read(a, 1)
                i += 1
        return bytes(out)

    def write(self, uint32_t addr, data):
        """Write bytes to physical memory (RAM pages only take them; ROM ignores writes).
        A RAM page takes its part in one copy (fw_cfg DMA puts whole kernels here)."""
        cdef const unsigned char[:] mv = bytes(data)
        cdef Py_ssize_t i = 0, n = mv.shape[0], chunk
        cdef uint32_t a
        cdef uint8_t* p
        while i < n:
            a = <uint32_t>(addr + i)
            chunk = PAGE_SIZE - (a & (PAGE_SIZE - 1))
            if chunk > n - i:
                chunk = n - i
            p = self.wptr[a >> PAGE_SHIFT]
            if p != NULL:
                memcpy(p + (a & (PAGE_SIZE - 1)), &mv[i], chunk)
                i += chunk
            else:
                self.write8(a, mv[i])
                i += 1

    def load_rom_image(self, uint32_t base, data):
        """Write bytes into memory even if the pages are ROM (used by firmware loaders)."""
        cdef const unsigned char[:] mv = bytes(data)
        cdef Py_ssize_t i
        cdef uint8_t* p
        for i in range(mv.shape[0]):
            if base + i > 0xFFFFFFFF:
                raise ValueError("an image of %d bytes at 0x%X runs past 4 GiB"
                                 % (mv.shape[0], base))
            p = self.rptr[(base + i) >> PAGE_SHIFT]
            if p == NULL:
                raise ValueError("address 0x%X is not backed by RAM or ROM" % (base + i))
            p[(base + i) & (PAGE_SIZE - 1)] = mv[i]

    # ------------------------------------------------------------------ snapshots
    # RAM as a list of pages (core/snapshot.py): None for a page of zeros, else a
    # 4096-byte bytes object.  A page equal to the one in `prev` (an earlier capture) is
    # that same object, so a series of snapshots shares every page that did not change.

    def ram_pages(self, list prev=None):
        """The RAM's pages (see above); `prev` an earlier capture to share pages with."""
        return capture_pages(self.ram, self.ram_size >> PAGE_SHIFT, prev)

    def set_ram_pages(self, list pages):
        """Load RAM from ram_pages()'s list; pages already equal are left alone."""
        restore_pages(self.ram, self.ram_size >> PAGE_SHIFT, pages, "RAM")

    def map_signature(self):
        """A digest of the page map (which pages are RAM, read-only, MMIO or unmapped),
        to check that a restored machine maps memory as the saved one did."""
        import hashlib
        if self._signature is not None and self._signature[0] == self.map_gen:
            return self._signature[1]       # nothing was remapped since
        cdef bytearray kinds = bytearray(NPAGES)
        cdef unsigned char* k = kinds
        cdef uint32_t p
        for p in range(NPAGES):
            if self.wptr[p] != NULL:
                k[p] = 1 if self.wptr[p] == self.ram + (<uint64_t>p << PAGE_SHIFT) else 4
            elif self.rptr[p] != NULL:
                k[p] = 2 if self.rptr[p] == self.ram + (<uint64_t>p << PAGE_SHIFT) else 5
        for p in self._mmio:
            k[p] = 3
        digest = hashlib.sha1(kinds).hexdigest()
        self._signature = (self.map_gen, digest)
        return digest


cdef uint32_t _call_read(read, uint32_t port, int width) noexcept:
    try:
        return (<uint32_t>(read(port, width) & 0xFFFFFFFF)) & (0xFFFFFFFF >> (32 - 8 * width))
    except Exception as e:      # a device bug must not tear down the CPU loop
        _report_device_error("I/O read port 0x%X" % port, e)
        return 0xFFFFFFFF >> (32 - 8 * width)


cdef void _call_write(write, uint32_t port, int width, uint32_t value) noexcept:
    try:
        write(port, width, value)
    except Exception as e:
        _report_device_error("I/O write port 0x%X" % port, e)


def _report_device_error(what, exc):
    import sys
    print("cycle86: device error during %s: %r" % (what, exc), file=sys.stderr)


cdef list capture_pages(uint8_t* base, uint32_t n, list prev):
    """`n` pages from `base` (see bus.pxd): zero pages as None, unchanged ones shared."""
    cdef list out = [None] * n
    cdef object old
    cdef const uint64_t* w
    cdef uint8_t* src
    cdef uint32_t p, k
    cdef bint zero
    if prev is not None and len(prev) != n:
        prev = None
    for p in range(n):
        src = base + (<uint64_t>p << PAGE_SHIFT)
        if prev is not None:
            old = prev[p]
            if old is not None and memcmp(src, <const char*>old, PAGE_SIZE) == 0:
                out[p] = old
                continue
        w = <const uint64_t*>src
        zero = True
        for k in range(PAGE_SIZE // 8):
            if w[k]:
                zero = False
                break
        if not zero:
            out[p] = (<char*>src)[:PAGE_SIZE]
    return out


cdef int restore_pages(uint8_t* base, uint32_t n, list pages, str what) except -1:
    """Write capture_pages()'s list back to `n` pages at `base`, leaving equal pages
    alone; `what` names the memory in an error."""
    cdef uint8_t* dst
    cdef object page
    cdef uint32_t p
    if len(pages) != n:
        raise ValueError("%d pages of %s given, there are %d" % (len(pages), what, n))
    for p in range(n):
        dst = base + (<uint64_t>p << PAGE_SHIFT)
        page = pages[p]
        if page is None:
            memset(dst, 0, PAGE_SIZE)
        else:
            if len(page) != PAGE_SIZE:
                raise ValueError("%s page %d is %d bytes, not %d"
                                 % (what, p, len(page), PAGE_SIZE))
            if memcmp(dst, <const char*>page, PAGE_SIZE) != 0:
                memcpy(dst, <const char*>page, PAGE_SIZE)
    return 0
