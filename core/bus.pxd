# The physical bus: memory page map and I/O port map.  The CPU cimports this and
# reads rptr/wptr directly, so a RAM access is a pointer load, not a Python call.
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t

cdef enum:
    PAGE_SHIFT = 12
    PAGE_SIZE = 4096
    NPAGES = 1 << 20          # 4 GiB of physical address space in 4 KiB pages

cdef class Bus:
    cdef uint8_t* ram
    cdef public uint32_t ram_size
    # Per page: host pointer to the page's bytes for reads (RAM or ROM), or NULL
    # for MMIO and unmapped pages, which take the slow path.
    cdef uint8_t** rptr
    # Per page: host pointer for writes (RAM only); NULL for ROM (writes dropped),
    # MMIO and unmapped pages.
    cdef uint8_t** wptr
    # Physical address mask: the model's address-bus width AND the A20 gate.  Set it
    # through the a20 property only: the CPU caches translations that depend on it.
    cdef public uint32_t addr_mask
    # Bumped whenever a page's pointers or the address mask change (ROM/RAM/MMIO
    # remaps, shadow RAM, the LFB, A20).  The CPU's host-pointer TLB and fetch window
    # hold copies of rptr/wptr entries and drop them when this moves.
    cdef public uint32_t map_gen
    cdef uint32_t bus_mask
    cdef bint _a20
    cdef dict _rom_pages       # page number -> the _Buffer its ROM bytes live in
    cdef uint32_t _unclaimed        # the page unclaimed_page() found last
    cdef object _signature          # (map_gen, digest) of map_signature()
    cdef dict _mmio            # page number -> (read(addr, width), write(addr, width, value))
    cdef list _io              # port -> (read, write, width, owner) or None; see register_io
    cdef dict _io_under        # port -> the claim another owner's register_io covered
    cdef public dict unclaimed_ports
    cdef public object io_observer   # debugger hook; None costs nothing
    # ISA bus time of port I/O (set_isa_timing): per port 0 (no ISA cycle: a CPU-only
    # machine, or a PCI device), 1 (an 8-bit ISA device) or 2 (16-bit); the CPU clocks of
    # one 8- and one 16-bit ISA I/O cycle; and the clocks the accesses since the CPU last
    # looked have cost, which the CPU adds to the instruction (io_stall).
    cdef uint8_t* isa_port
    cdef public uint32_t isa8_cycles, isa16_cycles
    cdef public uint32_t io_stall

    cdef uint32_t slow_read(self, uint32_t addr, int width) noexcept
    cdef void slow_write(self, uint32_t addr, int width, uint32_t value) noexcept
    cdef uint32_t io_read(self, uint32_t port, int width) noexcept
    cdef void io_write(self, uint32_t port, int width, uint32_t value) noexcept
    cdef uint32_t unclaimed_page(self) noexcept
    cdef void isa_time(self, uint32_t port, int width) noexcept
    cpdef int read8(self, uint32_t addr)
    cpdef void write8(self, uint32_t addr, int value)


# Memory as 4 KiB pages for snapshots (Bus.ram_pages, the VGA's video memory): None for a
# page of zeros, else a bytes object; a page equal to the one in `prev` is that object.
cdef list capture_pages(uint8_t* base, uint32_t n, list prev)
cdef int restore_pages(uint8_t* base, uint32_t n, list pages, str what) except -1
