"""Trace files (.c86t): the CPU's raw entry stream behind a small header, and its reader.

The CPU (core/cpu.pyx) records one entry per event into a byte buffer: an INSN entry as each
instruction starts, then that instruction's register changes, memory writes, I/O and
interrupts.  This module stores that stream in a file with a header (TraceWriter), decodes it
back into one Record per instruction (TraceReader), formats records as text or JSON lines and
gathers statistics.  docs/trace-format.md is the specification; StreamEncoder (version 2,
and version 1 through the encode_* functions) builds every entry kind and is the format
written as code (the recorder in C must agree).  The reader reads versions 1 and 2.

A file is:  b"C86TRACE", u16 format version, u16 flags, u32 N, N bytes of a UTF-8 JSON
object (the header), then the entry stream to the end of the file.  All little-endian.

Version 2 (what the recorder writes) is compact: one-byte INSNs where the reader can tell
the EIP and the code bytes, short REG entries, MEMW without the physical address when it is
the linear one.  It also has the BUS entry: the clock-by-clock bus activity of an
instruction timed by the 8086/8088 bus model (core/biu.pyx), appended by
core.machine.Machine after the instruction's entries (cpu.trace_append), and the CYCLE
entry: the cycle an interrupt delivery began at, which the CPU writes before the INT of
each hardware interrupt or NMI on such a machine, the delivery having clocks of its own.
Version 1 files (fixed-size entries, no BUS or CYCLE) are still read.
"""
import atexit
import collections
import json
import mmap
import os
import queue
import struct
import threading

MAGIC = b"C86TRACE"
VERSION = 2                      # the format version this module writes (it reads 1 and 2)
_FILE_HEADER = struct.Struct("<8sHHI")

# A recording to a file runs in slices of at most RECORD_SLICE_CYCLES guest cycles, the
# CPU's entries handed to the writer after each (TraceWriter.drain).  Shorter slices than
# a run's without recording: the entries of one (some 2 MB) are still in the host's
# caches when the writer's thread stores them, and so is the buffer the CPU records into
# next.  Measured on bench.rom (Pentium, docs/performance.md): 0.5 M-cycle slices record
# to a file 5-10% faster than 2 M-cycle ones; 0.125 M-cycle ones pay for their number.
RECORD_SLICE_CYCLES = 500_000
# A recording's bytes per slice, to size the writer's buffers: some 4.1 a cycle on
# bench.rom's Pentium (0.9 instructions a cycle, 4.6 bytes each), with room for denser
# code.  A slice that outgrows its buffer costs a copy (cpu.trace_swap), no more.
RECORD_BYTES_PER_CYCLE = 8

# ------------------------------------------------------------------ entry tags and layouts
# Each entry is a one-byte tag followed by fixed fields (INSN: then `len` instruction bytes).

INSN, CTX, PHYS, REG, MEMW, IO, INT, KEY, SHUTDOWN, BUS, CYCLE = range(1, 12)

TAG_NAMES = {INSN: "INSN", CTX: "CTX", PHYS: "PHYS", REG: "REG", MEMW: "MEMW", IO: "IO",
             INT: "INT", KEY: "KEY", SHUTDOWN: "SHUTDOWN", BUS: "BUS", CYCLE: "CYCLE"}

_INSN = struct.Struct("<BIIB")          # tag, cycle delta, eip, len; then len bytes
_CTX = struct.Struct("<BBHI")           # tag, mode, cs selector, cs base
_PHYS = struct.Struct("<BI")            # tag, physical address of the next INSN
_REG = struct.Struct("<BBI")            # tag, register index, new value
_MEMW = struct.Struct("<BBIII")         # tag, size, linear, physical, value
_IO = struct.Struct("<BBHI")            # tag, flags (bit 7 OUT; bits 0-2 size), port, value
_INT = struct.Struct("<BBBi")           # tag, vector, kind, error code (-1 none)
_KEY = struct.Struct("<BQQ20I")         # tag, cycle, instructions retired, 19 regs + eip
_SHUTDOWN = struct.Struct("<B")
_BUS = struct.Struct("<BH")             # tag, clocks (1..65535); then the clock records
_CYCLE = struct.Struct("<BI")           # tag, cycle delta of the delivery (INT) that follows

ENTRY_SIZES = {INSN: _INSN.size, CTX: _CTX.size, PHYS: _PHYS.size, REG: _REG.size,
               MEMW: _MEMW.size, IO: _IO.size, INT: _INT.size, KEY: _KEY.size,
               SHUTDOWN: _SHUTDOWN.size, BUS: _BUS.size, CYCLE: _CYCLE.size}

# Version 2: INSN, REG and MEMW entries carry their flags in the tag (docs/trace-format.md).
INSN2 = 0x80                    # | INSN2_EIP | INSN2_CODE | cycle delta 0..30 (31: a u32 follows)
INSN2_EIP = 0x40                # an EIP field follows (else the last INSN's EIP + its length):
INSN2_EIP32 = 0x80              # i8 displacement from that EIP, or this byte and a u32 EIP
INSN2_CODE = 0x20               # u8 length and the bytes follow (else those last recorded there)
INSN2_DELTA = 0x1F
REG2_32 = 0x20                  # | register index; u32 value
REG2_16 = 0x40                  # | register index; u16 low half (the high half is unchanged)
REG2_8 = 0x60                   # | register index; u8 low byte (the rest is unchanged)
MEMW2 = 0x10                    # | size code (0, 1, 2: 1, 2, 4 bytes) | MEMW2_PHYS
MEMW2_PHYS = 0x04               # u32 linear, [u32 physical], value in `size` bytes
_U32 = struct.Struct("<I")
_U16 = struct.Struct("<H")

# Register indices of REG entries and of the KEY's register block (eip is KEY's 20th word).
REG_NAMES = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "eflags",
             "es", "cs", "ss", "ds", "fs", "gs", "cr0", "cr2", "cr3", "cr4")
REG_INDEX = {name: i for i, name in enumerate(REG_NAMES)}
NUM_REGS = len(REG_NAMES)
SEGMENT_REGS = frozenset(("es", "cs", "ss", "ds", "fs", "gs"))

# CTX mode byte.
MODE_REAL, MODE_PROTECTED, MODE_V86 = 0, 1, 2
MODE_PAGING = 0x04
MODE_CODE32 = 0x08
MODE_NAMES = {MODE_REAL: "real", MODE_PROTECTED: "protected", MODE_V86: "v86", 3: "mode3"}

# INT kinds.
INT_EXCEPTION, INT_SOFTWARE, INT_HARDWARE, INT_NMI = range(4)
INT_KIND_NAMES = ("exception", "software", "irq", "nmi")

IO_WRITE = 0x80


class TraceError(Exception):
    """A file that is not a readable trace: the message names the file and byte offset."""


# ------------------------------------------------------------------ encoding
# The encode_* functions build version 1 entries, each on its own.  Version 2 leaves out
# what the reader can tell from the entries before (an INSN's EIP, its bytes, its
# physical address), so its entries come from a StreamEncoder, which keeps that state.

def encode_insn(cycle_delta, eip, code):
    """INSN: an instruction starts `cycle_delta` cycles after the previous INSN (or KEY)."""
    code = bytes(code)
    if not 1 <= len(code) <= 15:
        raise ValueError("an instruction is 1 to 15 bytes, not %d" % len(code))
    return _INSN.pack(INSN, cycle_delta, eip, len(code)) + code


def encode_ctx(mode, cs, cs_base):
    """CTX: mode bits (0-1 real/protected/v86, 2 paging, 3 32-bit code), CS and its base."""
    return _CTX.pack(CTX, mode, cs, cs_base)


def encode_phys(physical):
    """PHYS: the physical address of the next INSN's first byte, when it is not the linear."""
    return _PHYS.pack(PHYS, physical)


def encode_reg(reg, value):
    """REG: register `reg` (a name from REG_NAMES or its index) now holds `value`."""
    index = REG_INDEX[reg] if isinstance(reg, str) else reg
    return _REG.pack(REG, index, value)


def encode_memw(size, linear, physical, value):
    """MEMW: a write of `size` (1, 2, 4) bytes."""
    return _MEMW.pack(MEMW, size, linear, physical, value)


def encode_io(port, size, is_write, value):
    """IO: an IN (is_write False) or OUT of `size` bytes."""
    return _IO.pack(IO, (IO_WRITE if is_write else 0) | size, port, value)


def encode_int(vector, kind, error=-1):
    """INT: the start of an interrupt or exception delivery (kind: INT_* constants)."""
    return _INT.pack(INT, vector, kind, error)


def encode_key(cycle, icount, regs, eip):
    """KEY: full state; `regs` is a sequence of the 19 values in REG_NAMES order or a dict
    (missing names are 0)."""
    if isinstance(regs, dict):
        regs = [regs.get(name, 0) for name in REG_NAMES]
    regs = list(regs)
    if len(regs) != NUM_REGS:
        raise ValueError("a KEY holds %d registers, not %d" % (NUM_REGS, len(regs)))
    return _KEY.pack(KEY, cycle, icount, *regs, eip)


def encode_cycle(cycle_delta):
    """CYCLE: the hardware interrupt or NMI whose INT follows began `cycle_delta` cycles
    after the start of the previous INSN (or KEY); the next INSN's delta still counts from
    that INSN (version 2)."""
    return _CYCLE.pack(CYCLE, cycle_delta)


def encode_shutdown():
    """SHUTDOWN: the CPU shut down (triple fault)."""
    return _SHUTDOWN.pack(SHUTDOWN)


# ------------------------------------------------------------------ BUS: one record a clock
# The 8086's status pins as the data sheet encodes them (S2 S1 S0; QS1 QS0; S4 S3 for the
# segment, plus "--" for a clock with none), under the names core/biu8086.py gives them in
# its per-clock records and the hardware suites use.

BUS_STATUS = ("INTA", "IOR", "IOW", "HALT", "CODE", "MEMR", "MEMW", "PASV")
T_STATES = ("Ti", "T1", "T2", "T3", "T4", "Tw")
QUEUE_OPS = ("-", "F", "E", "S")        # none, first byte, queue emptied, subsequent byte
BUS_SEGMENTS = ("ES", "SS", "CS", "DS", "--")

_STATUS_CODE = {name: i for i, name in enumerate(BUS_STATUS)}
_T_CODE = {name: i for i, name in enumerate(T_STATES)}
_QOP_CODE = {name: i for i, name in enumerate(QUEUE_OPS)}
_SEG_CODE = {name: i for i, name in enumerate(BUS_SEGMENTS)}

# The clock record: byte 0 = status | T-state << 3 | queue op << 6; byte 1 = ALE | BHE# << 1
# | segment << 2 | the flags below, each saying a field follows (in this order).
CLK_ADDRESS = 0x20      # u24: the address, when it is not the implied one (below)
CLK_QBYTE = 0x40        # u8: the byte taken from the queue, when it is not 0
CLK_DATA = 0x80         # u16: the data bus, when the bus model reports it
BUS_MAX_CLOCKS = 0xFFFF  # clocks in one BUS entry; a longer instruction has several


class BusClock(collections.namedtuple(
        "BusClock", "ale address segment status t qop qbyte bhe data", defaults=(None,))):
    """One clock of the bus: ALE (1 in T1), the address, the segment (S4 S3), the bus
    status (S2-S0), the T-state, the queue operation and the byte it took, the BHE# pin
    level (0: the high byte lane is in use) and the data bus (None when not recorded).
    Its first eight fields are the tuple core/biu8086.py's BusTiming.records holds."""

    __slots__ = ()


def encode_bus(clocks):
    """BUS: the clocks of the instruction whose entries it follows, each a tuple
    (ale, address, segment, status, t_state, queue_op, queue_byte, bhe[, data]) with the
    names of BUS_SEGMENTS, BUS_STATUS, T_STATES and QUEUE_OPS, as BusTiming.records gives
    them (data: None, or absent, when the bus model does not report it).  More than
    BUS_MAX_CLOCKS clocks make several BUS entries in a row."""
    out = []
    body = []
    n = 0
    last = 0
    cache = _clock_cache
    for c in clocks:
        if n == BUS_MAX_CLOCKS:
            out.append(_BUS.pack(BUS, n))
            out.extend(body)
            body.clear()
            n = 0
            last = 0
        # A recording writes the same few clocks over and over (a loop, the idle clocks,
        # the T2-T4 of every fetch): each is encoded once, given the address before it.
        key = (c, last)
        code = cache.get(key)
        if code is None:
            code = _encode_clock(c, last)
            if len(cache) >= 1 << 16:
                cache.clear()
            cache[key] = code
        body.append(code)
        last = c[1]
        n += 1
    if not n:
        raise ValueError("a BUS entry holds at least one clock")
    out.append(_BUS.pack(BUS, n))
    out.extend(body)
    return b"".join(out)


_clock_cache = {}


def _encode_clock(c, last):
    """The clock record of clock `c` after a clock at address `last`."""
    try:
        ale, address, segment, status, t, qop, qbyte, bhe = c[:8]
        data = c[8] if len(c) > 8 else None
        b0 = _STATUS_CODE[status] | _T_CODE[t] << 3 | _QOP_CODE[qop] << 6
        b1 = ale | bhe << 1 | _SEG_CODE[segment] << 2
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError("not a bus clock record: %r (%s)" % (c, e)) from None
    if ale not in (0, 1) or bhe not in (0, 1) or not 0 <= address < 1 << 24 \
            or not 0 <= qbyte < 256 or not (data is None or 0 <= data < 1 << 16):
        raise ValueError("not a bus clock record: %r" % (c,))
    # The address is implied when it is the previous clock's (T2-T4 repeat T1's) or, in
    # an idle clock, 0.
    put_address = address != (0 if b0 >> 3 & 7 == 0 else last)
    if put_address:
        b1 |= CLK_ADDRESS
    if qbyte:
        b1 |= CLK_QBYTE
    if data is not None:
        b1 |= CLK_DATA
    code = bytearray((b0, b1))
    if put_address:
        code += address.to_bytes(3, "little")
    if qbyte:
        code.append(qbyte)
    if data is not None:
        code += data.to_bytes(2, "little")
    return bytes(code)


class ClocksCutShort(ValueError):
    """The clock records run past the end of the buffer."""


def decode_bus_clocks(buf, off, n, end):
    """The `n` BusClocks of the clock records at buf[off:end] (a BUS entry's body) and the
    offset after them.  ClocksCutShort if they run past `end`, ValueError if malformed."""
    out = []
    append = out.append
    last = 0
    for i in range(n):
        if off + 2 > end:
            raise ClocksCutShort("clock %d of %d is cut short" % (i, n))
        b0 = buf[off]
        b1 = buf[off + 1]
        off += 2
        t = b0 >> 3 & 7
        seg = b1 >> 2 & 7
        if t >= len(T_STATES) or seg >= len(BUS_SEGMENTS):
            raise ValueError("clock %d: T-state %d, segment %d (the highest are %d and %d)"
                             % (i, t, seg, len(T_STATES) - 1, len(BUS_SEGMENTS) - 1))
        if off + (3 if b1 & CLK_ADDRESS else 0) + (1 if b1 & CLK_QBYTE else 0) \
                + (2 if b1 & CLK_DATA else 0) > end:
            raise ClocksCutShort("clock %d of %d is cut short" % (i, n))
        if b1 & CLK_ADDRESS:
            address = buf[off] | buf[off + 1] << 8 | buf[off + 2] << 16
            off += 3
        else:
            address = 0 if t == 0 else last
        last = address
        qbyte = 0
        if b1 & CLK_QBYTE:
            qbyte = buf[off]
            off += 1
        data = None
        if b1 & CLK_DATA:
            data = buf[off] | buf[off + 1] << 8
            off += 2
        append(BusClock(b1 & 1, address, BUS_SEGMENTS[seg], BUS_STATUS[b0 & 7], T_STATES[t],
                        QUEUE_OPS[b0 >> 6], qbyte, b1 >> 1 & 1, data))
    return out, off


# ------------------------------------------------------------------ building a stream
class StreamEncoder:
    """Build an entry stream of `version` (1 or 2) entry by entry, keeping what a reader
    of version 2 knows: the code bytes last recorded at each physical address, the EIP
    that follows the last INSN and the page mapping of the last PHYS.  It leaves out all
    the format lets it; the recorder in core/cpu.pyx makes the same choices but may
    repeat code bytes (its code cache forgets).  Each method returns the bytes of its
    entry (or entries)."""

    def __init__(self, version=VERSION):
        if version not in (1, 2):
            raise ValueError("no format version %r" % (version,))
        self.version = version
        self.cs_base = 0
        self._reset()

    def _reset(self):
        self.code = {}
        self.next_eip = None
        self.map = None                 # (linear page, physical page) of the last PHYS
        self.regs = [0] * NUM_REGS

    def key(self, cycle, icount, regs, eip):
        data = encode_key(cycle, icount, regs, eip)
        self._reset()
        self.regs = list(_KEY.unpack(data)[3:3 + NUM_REGS])
        self.next_eip = eip
        return data

    def ctx(self, mode, cs, cs_base):
        self.cs_base = cs_base
        return encode_ctx(mode, cs, cs_base)

    def insn(self, cycle_delta, eip, code, physical=None):
        """An INSN (after a PHYS when the reader cannot tell `physical`, the address of
        its first byte; None: the linear address cs_base + eip)."""
        code = bytes(code)
        if not 1 <= len(code) <= 15:
            raise ValueError("an instruction is 1 to 15 bytes, not %d" % len(code))
        linear = (self.cs_base + eip) & 0xFFFFFFFF
        if physical is None:
            physical = linear
        if self.version == 1:
            out = encode_phys(physical) if physical != linear else b""
            return out + encode_insn(cycle_delta, eip, code)
        out = b""
        expect = linear
        if self.map is not None and self.map[0] == linear >> 12:
            expect = (self.map[1] << 12) | (linear & 0xFFF)
        if physical != expect:
            out += encode_phys(physical)
            self.map = (linear >> 12, physical >> 12)
        tag = INSN2
        fields = b""
        if cycle_delta < INSN2_DELTA:
            tag |= cycle_delta
        else:
            tag |= INSN2_DELTA
            fields += _U32.pack(cycle_delta)
        if eip != self.next_eip:
            tag |= INSN2_EIP
            d = (eip - self.next_eip + 0x80000000) % (1 << 32) - 0x80000000
            if -127 <= d <= 127:
                fields += bytes((d & 0xFF,))
            else:
                fields += bytes((INSN2_EIP32,)) + _U32.pack(eip)
        if self.code.get(physical) != code:
            tag |= INSN2_CODE
            fields += bytes((len(code),)) + code
            self.code[physical] = code
        self.next_eip = (eip + len(code)) & 0xFFFFFFFF
        return out + bytes((tag,)) + fields

    def phys(self, physical):
        """A PHYS on its own (version 1; version 2 writes them in insn())."""
        return encode_phys(physical)

    def reg(self, reg, value):
        index = REG_INDEX[reg] if isinstance(reg, str) else reg
        old, self.regs[index] = self.regs[index], value
        if self.version == 1:
            return encode_reg(index, value)
        if (old ^ value) >> 16:
            return bytes((REG2_32 | index,)) + _U32.pack(value)
        if (old ^ value) >> 8:
            return bytes((REG2_16 | index,)) + _U16.pack(value & 0xFFFF)
        return bytes((REG2_8 | index, value & 0xFF))

    def memw(self, size, linear, physical, value):
        if self.version == 1:
            return encode_memw(size, linear, physical, value)
        if size not in (1, 2, 4):
            raise ValueError("a write is 1, 2 or 4 bytes, not %d" % size)
        tag = MEMW2 | (size >> 1)
        data = _U32.pack(linear)
        if physical != linear:
            tag |= MEMW2_PHYS
            data += _U32.pack(physical)
        return bytes((tag,)) + data + (value & ((1 << 8 * size) - 1)).to_bytes(size, "little")

    def io(self, port, size, is_write, value):
        return encode_io(port, size, is_write, value)

    def int(self, vector, kind, error=-1):
        return encode_int(vector, kind, error)

    def shutdown(self):
        return encode_shutdown()

    def bus(self, clocks):
        """The BUS entries of an instruction's clocks (version 2 only).  They hold no state
        of the compact encoding, so they may follow any entry of a record."""
        if self.version == 1:
            raise ValueError("version 1 has no BUS entry")
        return encode_bus(clocks)


# ------------------------------------------------------------------ the file header

def _cycle86_version():
    try:
        from importlib.metadata import version
        return version("cycle86")
    except Exception:
        return "unknown"


def make_header(cpu, frequency, start_cycle=0, description="", created=None, **extra):
    """The JSON header's fields.  `created` (an ISO timestamp) is stored only when given, so
    that recording the same run twice gives byte-identical files."""
    header = {"cpu": cpu, "frequency": int(frequency), "start_cycle": int(start_cycle),
              "cycle86_version": _cycle86_version(), "description": description}
    if created is not None:
        header["created"] = created
    header.update(extra)
    return header


def encode_file_header(header, version=VERSION):
    """The bytes before the entry stream: magic, version, flags and the JSON header."""
    text = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    data = text.encode("utf-8")
    return _FILE_HEADER.pack(MAGIC, version, 0, len(data)) + data


class TraceWriter:
    """Write a trace file: the header at once, then the raw stream as it comes.

        with TraceWriter.for_machine("traces/boot.c86t", machine, "boot test") as w:
            machine.cpu.trace_start()
            ... run ...
            machine.cpu.trace_drain(w.write)       # or w.write(machine.cpu.trace_take())

    A recording is some 5 bytes per instruction, hundreds of megabytes a minute, and
    storing it costs the host a good part of running the guest: a thread writes the file
    while the guest runs on.  write() copies the entries into one of BUFFERS buffers of
    its own (the caller may reuse its buffer at once) and queues it; when all of them
    wait for the disk, write() waits for one, so a disk slower than the guest holds the
    guest back rather than filling memory.  flush() and close() wait for the queue; a write error
    is raised by the next write(), flush() or close().

    Where the file system allows it (Linux's O_DIRECT), the file is written around the
    page cache, straight from those buffers: copying hundreds of megabytes into the
    cache, in fresh pages, cost the host more than the rest of the recording (on a
    virtual machine, 0.3 GB/s against 2.5 GB/s direct).  Such writes go in whole blocks
    (BLOCK) from aligned buffers, so the last part of a block waits for the next write();
    flush() and close() write it padded and cut the file to its size.  `direct=False`, or
    a file system that refuses O_DIRECT, writes through the cache instead; the file is the
    same either way.
    """

    # Three: with drain(), one the CPU records into, one being written and one to swap
    # in (with write(), the CPU's own buffer is the first); each costs the host its first
    # touch.
    BUFFERS = 3
    BLOCK = 4096                 # O_DIRECT's unit of address, offset and length

    def __init__(self, path, header, version=VERSION, direct=True, buffer_size=None):
        self.path = os.fspath(path)
        self.header = dict(header)
        self.version = version
        head = encode_file_header(self.header, version)
        # The header is on disk before any entry: a recording killed early still reads.
        with open(self.path, "wb") as f:
            f.write(head)
        self._closed = False
        self._fd = self._open_direct(head) if direct else None
        self._block = self.BLOCK if self._fd is not None else 1
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | getattr(os, "O_BINARY", 0))
        self._head_len = len(head)
        self._size = len(head)           # the file's size, once all queued is written
        # Direct: the bytes past the last whole block, written again at its start
        # (with what follows) by the next write; they are in the file only after a
        # flush() or close().
        self._carry = head[len(head) - len(head) % self._block:] if self._block > 1 else b""
        self._offset = len(head) - len(self._carry)     # where the next queued buffer goes
        self._swapping = False           # the CPU records into buffers of the writer's (drain)
        self._queue = queue.Queue()      # (buffer, length, offset) to write, None to stop
        self._free = queue.Queue()       # buffers written, for reuse
        self._buffers = 0
        self._error = None
        # buffer_size (a caller that drains a CPU, which records straight into these
        # buffers): the buffers are of that size at least, and the thread makes them as
        # it can, their pages faulted in while the guest runs, not by the recording
        # guest's first touch of each page (on a virtual machine, some 10 ms for every
        # 10 MB).  One wanted before the thread has one ready is made at once, as
        # without buffer_size.  (_lock: _buffers, counted by both threads.)
        self._prefault = buffer_size
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._writer, name="trace writer", daemon=True)
        self._thread.start()
        # What write() accepted reaches the file even if nobody closes the writer (as a
        # buffered file's data does when the interpreter exits).
        atexit.register(self.close)

    def _open_direct(self, head):
        """An O_DIRECT descriptor of the file, or None where the file system (or the OS)
        has none: tried by writing the header's blocks with it."""
        if not hasattr(os, "O_DIRECT"):
            return None
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_DIRECT)
        except OSError:
            return None
        try:
            n = -(-len(head) // self.BLOCK) * self.BLOCK
            buf = mmap.mmap(-1, n)               # (page-aligned)
            buf[:len(head)] = head
            if os.pwrite(fd, buf, 0) != n:
                raise OSError("short write")
            os.ftruncate(fd, len(head))
        except OSError:
            os.close(fd)
            with open(self.path, "wb") as f:    # as it was: the header alone
                f.write(head)
            return None
        return fd

    @property
    def bytes_written(self):
        """Bytes of entries the writer has taken (by drain(): those handed over)."""
        return self._size - self._head_len

    @property
    def direct(self):
        """Whether the file is written around the page cache (O_DIRECT)."""
        return self._block > 1

    @classmethod
    def for_machine(cls, path, machine, description="", created=None, buffer_size=None,
                    **extra):
        """A writer whose header describes `machine` (a core.machine.Machine) as it is now.
        A machine timed by the 8086/8088 bus model records BUS entries: the header says so
        ("bus_timing": true), so that a reader can tell a recording without clocks from one
        whose instructions the model did not time."""
        if getattr(machine, "bus_timing", None) is not None:
            extra.setdefault("bus_timing", True)
        header = make_header(machine.model.name, machine.clock.frequency, machine.clock.now,
                             description, created, **extra)
        return cls(path, header, buffer_size=buffer_size)

    @classmethod
    def start(cls, path, machine, description=""):
        """A writer for `machine` (as for_machine) with its CPU recording into it: the CPU
        records into the writer's buffers from its first entry (drain hands it one), so a
        caller hands the entries over with drain(cpu) after each slice of at most
        RECORD_SLICE_CYCLES, and drain(cpu, last=True) after cpu.trace_stop()."""
        self = cls.for_machine(path, machine, description,
                               buffer_size=RECORD_SLICE_CYCLES * RECORD_BYTES_PER_CYCLE)
        machine.cpu.trace_start()
        self.drain(machine.cpu)
        return self

    def _store(self, view, offset):
        """Write all of `view` at `offset` (in the writer's thread, or with it idle)."""
        while len(view):
            if hasattr(os, "pwrite"):
                n = os.pwrite(self._fd, view, offset)
            else:                               # (Windows: no pwrite, and no O_DIRECT)
                os.lseek(self._fd, offset, os.SEEK_SET)
                n = os.write(self._fd, view)
            if n <= 0:
                raise OSError("trace writer: nothing written at offset %d of %s" % (offset, self.path))
            view = view[n:]
            offset += n

    def _writer(self):
        while self._prefault:
            with self._lock:
                if self._buffers >= self.BUFFERS:
                    break
                self._buffers += 1
            try:
                buf = self._new_buffer(self._prefault, populate=True)
            except (OSError, MemoryError, ValueError):
                buf = None          # (made ahead only to be faster: _buffer makes it)
            self._free.put(buf)
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                buf, n, offset = item
                if self._error is None:
                    try:
                        self._store(memoryview(buf)[:n], offset)
                    except BaseException as e:      # raised in the recording thread
                        self._error = e
                self._free.put(buf)
            finally:
                self._queue.task_done()

    def _raise_error(self):
        if self._error is not None:
            e, self._error = self._error, None
            raise e

    def _buffer(self, n):
        """A buffer of the writer's for at least n bytes: a free one, a new one while
        there are fewer than BUFFERS, else the next the thread has written."""
        with self._lock:
            new = self._buffers < self.BUFFERS and self._free.empty()
            if new:
                self._buffers += 1
        buf = None if new else self._free.get()
        if buf is None or len(buf) < n:
            # Room to spare: slices vary in size, and a new buffer costs its first
            # touch.
            buf = self._new_buffer(max(n + n // 2, self._prefault or 1 << 20))
        return buf

    def _new_buffer(self, size, populate=False):
        """A buffer of at least size bytes, page-aligned (mmap), as O_DIRECT needs; with
        populate, its pages are faulted in now (by reading zeros into it: the GIL is
        released, and unlike MAP_POPULATE no lock of the address space is held long
        enough to stall the recording thread), where the OS has /dev/zero."""
        buf = mmap.mmap(-1, -(-size // self.BLOCK) * self.BLOCK)
        if populate and os.path.exists("/dev/zero"):
            with open("/dev/zero", "rb", buffering=0) as f:
                f.readinto(buf)
        return buf

    def write(self, raw):
        """Append raw entries (bytes from cpu.trace_take(), or the buffer cpu.trace_drain()
        passes; entries may span calls)."""
        n = len(raw)
        if not n:
            return
        self._check_open()
        if self._swapping:
            raise ValueError("write() to a trace the CPU records into (drain(cpu, last=True) first)")
        c = len(self._carry)
        buf = self._buffer(c + n)
        buf[:c] = self._carry
        buf[c:c + n] = raw
        whole = c + n - (c + n) % self._block
        self._carry = bytes(buf[whole:c + n])
        self._size += n
        if whole:
            self._queue.put((buf, whole, self._offset))
            self._offset += whole
        else:
            self._free.put(buf)

    def _check_open(self):
        self._raise_error()
        if self._closed:
            raise ValueError("write to a closed trace")

    def drain(self, cpu, last=False):
        """Store what `cpu` (a core.cpu.CPU) recorded since the last call, as
        cpu.trace_drain(self.write) would, but without copying the entries: the CPU
        records on into a buffer of the writer's (cpu.trace_swap) and the one it filled
        goes to the writer's thread as it is.  The CPU keeps the last part of a block for
        the next call; `last` hands everything over and leaves the CPU recording into
        memory of its own again (before close, or before write())."""
        self._check_open()
        if last:
            if not self._swapping:
                cpu.trace_drain(self.write)
                return
            old, n = cpu.trace_swap(None)
            self._swapping = False
            # What follows in the file, if anything, starts in the part-block at the end
            whole = n - n % self._block
            self._carry = bytes(memoryview(old)[whole:n])
            self._put(old, n)
            self._offset -= n - whole
            return
        pending = cpu.trace_size
        if not self._swapping:
            c = len(self._carry)
            spare = self._buffer(2 * (c + pending))
            spare[:c] = self._carry
            cpu.trace_swap(spare, self._block, c)
            self._carry = b""
            self._swapping = True
            return
        # (the next slice is about the size of this one)
        old, n = cpu.trace_swap(self._buffer(pending + pending // 2), self._block)
        if old is None:
            # It had outgrown the last buffer and gone on in memory of its own, which it
            # copied into this one: the other is gone.
            with self._lock:
                self._buffers -= 1
            return
        self._put(old, n)

    def _put(self, buf, n):
        """Queue buf's first n bytes (a whole number of blocks, or the stream's last
        part-block, written padded to the block) at the next offset."""
        self._size = self._offset + n
        if n:
            self._queue.put((buf, -(-n // self._block) * self._block, self._offset))
            self._offset += n
        else:
            self._free.put(buf)

    def _wait(self):
        if self._thread.is_alive():
            self._queue.join()

    def flush(self):
        """Wait until the file holds all that write() accepted (after drain(): the whole
        blocks handed over; the CPU holds the rest until drain(cpu, last=True))."""
        self._wait()
        self._raise_error()
        if self._swapping:
            return
        if self._carry:
            # (rewritten at the same block by the next write)
            buf = mmap.mmap(-1, self.BLOCK)
            buf[:len(self._carry)] = self._carry
            self._store(memoryview(buf), self._offset)
        os.ftruncate(self._fd, self._size)

    def close(self):
        if self._closed:
            return
        atexit.unregister(self.close)
        self._closed = True
        try:
            self._wait()
            self._queue.put(None)
            self._thread.join()
            self._free = queue.Queue()       # the buffers go with the writer
            self._raise_error()
            self.flush()
        finally:
            os.close(self._fd)

    @property
    def closed(self):
        return self._closed

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def write_trace(path, header, raw, version=VERSION):
    """Write a whole trace file at once (`raw`: an entry stream of `version`)."""
    with TraceWriter(path, header, version) as w:
        w.write(raw)


# ------------------------------------------------------------------ records

_EMPTY_STATE = (0,) * NUM_REGS


class Record:
    """One instruction ("insn"), one interrupt delivered between instructions
    ("interrupt"), or the CPU's shutdown ("shutdown"), with everything that followed it.

    cycle: when the instruction started (an interrupt record: when its delivery began if
    a CYCLE entry says so, as bus-timed recordings do; else, and for a shutdown record,
    the start cycle of the instruction before it).  icount: instructions retired before this record (the
    instruction's own number, counting from 0 at the start of the machine's run).
    regs_after: the registers it changed, name -> new value.  state_before / state_after:
    all 19 register values (REG_NAMES order) before and after.  mem_writes: (linear,
    physical, size, value); io: (port, size, is_write, value); interrupts: (vector, kind,
    error or None).  clocks: the BusClocks of its BUS entries, one per clock (empty unless
    the recording ran on the 8086/8088 bus model and the model timed this instruction).
    Location fields (cs, eip, linear, physical, bytes) are None for records that are not
    instructions.  offset: the file offset of the record's first entry.
    """

    __slots__ = ("kind", "offset", "cycle", "icount", "mode", "cs", "cs_base", "eip",
                 "linear", "physical", "bytes", "regs_after", "mem_writes", "io",
                 "interrupts", "clocks", "state_before", "state_after")

    def __init__(self, kind, offset, cycle, icount, mode, cs=None, cs_base=None, eip=None,
                 linear=None, physical=None, code=None, state_before=_EMPTY_STATE):
        self.kind = kind
        self.offset = offset
        self.cycle = cycle
        self.icount = icount
        self.mode = mode
        self.cs = cs
        self.cs_base = cs_base
        self.eip = eip
        self.linear = linear
        self.physical = physical
        self.bytes = code
        self.regs_after = {}
        self.mem_writes = []
        self.io = []
        self.interrupts = []
        self.clocks = []
        self.state_before = state_before
        self.state_after = state_before

    # -- mode bits
    @property
    def mode_name(self):
        return MODE_NAMES[self.mode & 3]

    @property
    def paging(self):
        return bool(self.mode & MODE_PAGING)

    @property
    def code32(self):
        return bool(self.mode & MODE_CODE32)

    @property
    def bits(self):
        return 32 if self.mode & MODE_CODE32 else 16

    # -- full register state
    def regs_before(self):
        """All registers before this record, name -> value."""
        return dict(zip(REG_NAMES, self.state_before))

    def regs(self):
        """All registers after this record, name -> value."""
        return dict(zip(REG_NAMES, self.state_after))

    def __repr__(self):
        if self.kind == "insn":
            return "<Record insn c=%d i=%d %04x:%08x %s>" % (
                self.cycle, self.icount, self.cs, self.eip, self.bytes.hex())
        return "<Record %s c=%d i=%d>" % (self.kind, self.cycle, self.icount)


# ------------------------------------------------------------------ reading

class TraceReader:
    """Read a trace file.  Iterating yields Records in order, decoded on the fly from a
    memory map, so a large file streams in constant memory.

        with TraceReader("traces/boot.c86t") as t:
            print(t.header["cpu"])
            for rec in t.records(from_cycle=1000):
                print(format_record(rec))

    A file whose last entry is cut short (a recording that was killed) ends cleanly after
    the last whole entry; `warnings` then holds a message saying where.  Anything else
    malformed raises TraceError naming the file and the byte offset.
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        self.name = self.path
        self.warnings = []
        self.truncated_at = None
        try:
            f = open(self.path, "rb")
        except OSError as e:
            raise TraceError("%s: cannot open: %s" % (self.path, e.strerror or e)) from None
        with f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                raise TraceError("%s: empty file, not a cycle86 trace" % self.path)
            self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        self._mv = memoryview(self._map)
        self.size = size
        try:
            self._read_header()
        except TraceError:
            self.close()
            raise

    @classmethod
    def from_stream(cls, raw, version=VERSION, name="<stream>"):
        """A reader of an entry stream in memory (bytes from cpu.trace_take(), which
        start with a KEY), with no file and an empty header."""
        self = cls.__new__(cls)
        self.path = self.name = name
        self.warnings = []
        self.truncated_at = None
        self._map = None
        self._mv = memoryview(bytes(raw))
        self.size = len(self._mv)
        self.version = version
        self.header = {}
        self.data_start = 0
        return self

    def _error(self, offset, message):
        return TraceError("%s: offset %d: %s" % (self.name, offset, message))

    def _read_header(self):
        mv = self._mv
        if len(mv) < len(MAGIC) or bytes(mv[:len(MAGIC)]) != MAGIC:
            raise self._error(0, "not a cycle86 trace (no C86TRACE magic)")
        if len(mv) < _FILE_HEADER.size:
            raise self._error(len(mv), "the file header is cut short")
        _, version, flags, n = _FILE_HEADER.unpack_from(mv, 0)
        if version > VERSION:
            raise self._error(8, "format version %d is newer than this cycle86 reads (%d); "
                                 "use a newer cycle86" % (version, VERSION))
        if version == 0:
            raise self._error(8, "format version 0 is not a valid version")
        if flags:
            raise self._error(10, "unknown header flags 0x%04x" % flags)
        start = _FILE_HEADER.size
        if start + n > len(mv):
            raise self._error(len(mv), "the JSON header (%d bytes at offset %d) is cut short"
                                       % (n, start))
        try:
            header = json.loads(bytes(mv[start:start + n]).decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise self._error(start, "the JSON header is not valid: %s" % e) from None
        if not isinstance(header, dict):
            raise self._error(start, "the JSON header is not an object")
        self.version = version
        self.header = header
        self.data_start = start + n

    # -- lifetime
    def close(self):
        mv, self._mv = getattr(self, "_mv", None), None
        if mv is not None:
            mv.release()
        m, self._map = getattr(self, "_map", None), None
        if m is not None:
            m.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- decoding
    def __iter__(self):
        return self.records()

    def records(self, from_cycle=None, to_cycle=None):
        """Records in file order; with from_cycle/to_cycle only those whose cycle is in
        [from_cycle, to_cycle] (decoding still starts at the beginning, for the state)."""
        it = self._decode()
        if from_cycle is None and to_cycle is None:
            return it
        return self._window(it, from_cycle, to_cycle)

    @staticmethod
    def _window(it, from_cycle, to_cycle):
        for rec in it:
            if to_cycle is not None and rec.cycle > to_cycle:
                return
            if from_cycle is None or rec.cycle >= from_cycle:
                yield rec

    def _truncated(self, offset, tag):
        self.truncated_at = offset
        message = ("%s: offset %d: the last entry (%s) is cut short; the recording was "
                   "probably stopped early, reading ends there"
                   % (self.name, offset, TAG_NAMES.get(tag, "?")))
        if message not in self.warnings:
            self.warnings.append(message)

    def _decode(self):
        """The decoder: entries -> Records (see the grouping rule in docs/trace-format.md).
        Versions 1 and 2 share every entry but INSN, REG, MEMW and the meaning of PHYS."""
        if self._mv is None:
            raise TraceError("%s: the trace is closed" % self.name)
        mv = self._mv
        end = len(mv)
        off = self.data_start
        v2 = self.version >= 2
        unpack_insn = _INSN.unpack_from
        unpack_reg = _REG.unpack_from
        unpack_memw = _MEMW.unpack_from
        unpack_ctx = _CTX.unpack_from
        unpack_io = _IO.unpack_from
        unpack_int = _INT.unpack_from
        unpack_u32 = _U32.unpack_from
        unpack_u16 = _U16.unpack_from
        insn_size, reg_size, memw_size = _INSN.size, _REG.size, _MEMW.size
        bus_size, cycle_size = _BUS.size, _CYCLE.size

        regs = list(_EMPTY_STATE)         # the current registers
        state = _EMPTY_STATE              # ... as a tuple shared by records until a change
        dirty = False
        mode, cs, cs_base = None, None, None
        phys = None                       # a PHYS for the next INSN
        base_cycle = None                 # start of the previous INSN, or the KEY's cycle
        delivery_cycle = None             # from a CYCLE: when the INT after it began
        icount = 0
        rec = None                        # the record entries are being attached to
        seen_key = False
        # Version 2: the code bytes last recorded at each physical address, the EIP an
        # INSN without one has (the last INSN's + its length), the page mapping of the
        # last PHYS (linear page, physical page).
        code = {}
        next_eip = None
        map_lin = map_phys = None

        def close(done):
            """Finish the open record: its state after, and the next instruction number."""
            nonlocal state, dirty, icount
            if dirty:
                state = tuple(regs)
                dirty = False
            done.state_after = state
            if done.kind == "insn":
                icount += 1
            return done

        while off < end:
            tag = mv[off]
            if v2 and tag & INSN2:
                p = off + 1
                delta = tag & INSN2_DELTA
                if delta == INSN2_DELTA:
                    if p + 4 > end:
                        self._truncated(off, INSN)
                        break
                    delta = unpack_u32(mv, p)[0]
                    p += 4
                if tag & INSN2_EIP:
                    if p + 1 > end:
                        self._truncated(off, INSN)
                        break
                    d = mv[p]
                    if d == INSN2_EIP32:
                        if p + 5 > end:
                            self._truncated(off, INSN)
                            break
                        eip = unpack_u32(mv, p + 1)[0]
                        p += 5
                    else:
                        eip = (next_eip + d - (d & 0x80) * 2) & 0xFFFFFFFF
                        p += 1
                else:
                    eip = next_eip
                if tag & INSN2_CODE:
                    if p + 1 > end:
                        self._truncated(off, INSN)
                        break
                    n = mv[p]
                    if not 1 <= n <= 15:
                        raise self._error(off, "INSN length %d (must be 1..15)" % n)
                    if p + 1 + n > end:
                        self._truncated(off, INSN)
                        break
                    insn_bytes = bytes(mv[p + 1:p + 1 + n])
                    p += 1 + n
                else:
                    insn_bytes = None
                if rec is not None:
                    yield close(rec)
                if base_cycle is None:
                    raise self._error(off, "INSN before the first KEY entry")
                if mode is None:
                    mode, cs, cs_base = self._context_from_regs(regs)
                linear = (cs_base + eip) & 0xFFFFFFFF
                if phys is not None:
                    physical = phys
                    map_lin, map_phys = linear >> 12, phys >> 12
                    phys = None
                elif linear >> 12 == map_lin:
                    physical = (map_phys << 12) | (linear & 0xFFF)
                else:
                    physical = linear
                if insn_bytes is None:
                    insn_bytes = code.get(physical)
                    if insn_bytes is None:
                        raise self._error(off, "INSN without bytes at physical address "
                                               "0x%x, where none were recorded" % physical)
                else:
                    code[physical] = insn_bytes
                next_eip = (eip + len(insn_bytes)) & 0xFFFFFFFF
                cycle = base_cycle + delta
                base_cycle = cycle
                rec = Record("insn", off, cycle, icount, mode, cs, cs_base, eip, linear,
                             physical, insn_bytes, state)
                off = p
            elif v2 and REG2_32 <= tag < REG2_8 + 0x20:
                index = tag & 0x1F
                size = 5 if tag < REG2_16 else 3 if tag < REG2_8 else 2
                if off + size > end:
                    self._truncated(off, REG)
                    break
                if index >= NUM_REGS:
                    raise self._error(off, "REG index %d (must be 0..%d)"
                                           % (index, NUM_REGS - 1))
                if rec is None:
                    raise self._error(off, "REG entry outside any instruction or interrupt")
                if size == 5:
                    value = unpack_u32(mv, off + 1)[0]
                elif size == 3:
                    value = (regs[index] & 0xFFFF0000) | unpack_u16(mv, off + 1)[0]
                else:
                    value = (regs[index] & 0xFFFFFF00) | mv[off + 1]
                regs[index] = value
                dirty = True
                rec.regs_after[REG_NAMES[index]] = value
                off += size
            elif v2 and MEMW2 <= tag < MEMW2 + 8:
                if tag & 3 == 3:
                    raise self._error(off, "MEMW size code 3 (must be 0, 1 or 2)")
                n = 1 << (tag & 3)
                size = 5 + (4 if tag & MEMW2_PHYS else 0) + n
                if off + size > end:
                    self._truncated(off, MEMW)
                    break
                if rec is None:
                    raise self._error(off, "MEMW entry outside any instruction or interrupt")
                lin = unpack_u32(mv, off + 1)[0]
                phy = unpack_u32(mv, off + 5)[0] if tag & MEMW2_PHYS else lin
                value = int.from_bytes(mv[off + size - n:off + size], "little")
                rec.mem_writes.append((lin, phy, n, value))
                off += size
            elif tag == INSN and not v2:
                if off + insn_size > end:
                    self._truncated(off, tag)
                    break
                _, delta, eip, n = unpack_insn(mv, off)
                if not 1 <= n <= 15:
                    raise self._error(off, "INSN length %d (must be 1..15)" % n)
                if off + insn_size + n > end:
                    self._truncated(off, tag)
                    break
                if rec is not None:
                    yield close(rec)
                if base_cycle is None:
                    raise self._error(off, "INSN before the first KEY entry")
                if mode is None:
                    mode, cs, cs_base = self._context_from_regs(regs)
                cycle = base_cycle + delta
                base_cycle = cycle
                linear = (cs_base + eip) & 0xFFFFFFFF
                rec = Record("insn", off, cycle, icount, mode, cs, cs_base, eip, linear,
                             linear if phys is None else phys,
                             bytes(mv[off + insn_size:off + insn_size + n]), state)
                phys = None
                off += insn_size + n
            elif tag == REG and not v2:
                if off + reg_size > end:
                    self._truncated(off, tag)
                    break
                _, index, value = unpack_reg(mv, off)
                if index >= NUM_REGS:
                    raise self._error(off, "REG index %d (must be 0..%d)"
                                           % (index, NUM_REGS - 1))
                if rec is None:
                    raise self._error(off, "REG entry outside any instruction or interrupt")
                regs[index] = value
                dirty = True
                rec.regs_after[REG_NAMES[index]] = value
                off += reg_size
            elif tag == MEMW and not v2:
                if off + memw_size > end:
                    self._truncated(off, tag)
                    break
                _, size, lin, phy, value = unpack_memw(mv, off)
                if size not in (1, 2, 4):
                    raise self._error(off, "MEMW size %d (must be 1, 2 or 4)" % size)
                if rec is None:
                    raise self._error(off, "MEMW entry outside any instruction or interrupt")
                rec.mem_writes.append((lin, phy, size, value))
                off += memw_size
            elif tag == CTX or tag == PHYS or tag == KEY:
                size = ENTRY_SIZES[tag]
                if off + size > end:
                    self._truncated(off, tag)
                    break
                if rec is not None:
                    yield close(rec)
                    rec = None
                if tag == CTX:
                    _, mode, cs, cs_base = unpack_ctx(mv, off)
                    if mode & 3 == 3:
                        raise self._error(off, "CTX mode 0x%02x: bits 0-1 = 3 is not a mode"
                                               % mode)
                elif tag == PHYS:
                    phys = _PHYS.unpack_from(mv, off)[1]
                else:
                    fields = _KEY.unpack_from(mv, off)
                    base_cycle, icount = fields[1], fields[2]
                    regs = list(fields[3:3 + NUM_REGS])
                    state = tuple(regs)
                    dirty = False
                    mode = None               # a CTX follows; if not, derive one
                    seen_key = True
                    # What a version 2 stream left implicit starts afresh at a KEY.
                    code = {}
                    next_eip = fields[3 + NUM_REGS]
                    map_lin = map_phys = None
                    phys = None
                off += size
            elif tag == IO or tag == INT:
                size = ENTRY_SIZES[tag]
                if off + size > end:
                    self._truncated(off, tag)
                    break
                if tag == IO:
                    _, flags, port, value = unpack_io(mv, off)
                    n = flags & 7
                    if n not in (1, 2, 4) or flags & 0x78:
                        raise self._error(off, "IO flags 0x%02x (size must be 1, 2 or 4)"
                                               % flags)
                    if rec is None:
                        raise self._error(off, "IO entry outside any instruction or interrupt")
                    rec.io.append((port, n, bool(flags & IO_WRITE), value))
                else:
                    _, vector, kind, error = unpack_int(mv, off)
                    if kind > INT_NMI:
                        raise self._error(off, "INT kind %d (must be 0..3)" % kind)
                    # A hardware interrupt or NMI is delivered between instructions: it
                    # starts a record of its own.  An exception or INT n belongs to the
                    # open record (the instruction, or a delivery that faulted).
                    if delivery_cycle is not None and kind < INT_HARDWARE:
                        raise self._error(off, "INT kind %d after a CYCLE entry (a delivery "
                                               "between instructions is kind 2 or 3)" % kind)
                    if rec is None or kind >= INT_HARDWARE:
                        if rec is not None:
                            yield close(rec)
                        if not seen_key:
                            raise self._error(off, "INT before the first KEY entry")
                        if mode is None:
                            mode, cs, cs_base = self._context_from_regs(regs)
                        rec = Record("interrupt", off,
                                     base_cycle if delivery_cycle is None else delivery_cycle,
                                     icount, mode, state_before=state)
                        delivery_cycle = None
                    rec.interrupts.append((vector, kind, None if error == -1 else error))
                off += size
            elif tag == BUS and v2:             # (version 1 has no BUS entry)
                if off + bus_size > end:
                    self._truncated(off, tag)
                    break
                n = _BUS.unpack_from(mv, off)[1]
                try:
                    clocks, after = decode_bus_clocks(mv, off + bus_size, n, end)
                except ClocksCutShort:
                    self._truncated(off, tag)
                    break
                except ValueError as e:
                    raise self._error(off, "BUS entry: %s" % e) from None
                if n == 0:
                    raise self._error(off, "BUS entry with no clocks")
                if rec is None:
                    raise self._error(off, "BUS entry outside any instruction or interrupt")
                # Several BUS entries after one instruction are its clocks in order.
                rec.clocks.extend(clocks)
                off = after
            elif tag == CYCLE and v2:             # (version 1 has no CYCLE entry)
                if off + cycle_size > end:
                    self._truncated(off, tag)
                    break
                if base_cycle is None:
                    raise self._error(off, "CYCLE before the first KEY entry")
                if off + cycle_size < end and mv[off + cycle_size] != INT:
                    raise self._error(off, "CYCLE entry not followed by an INT entry")
                # It gives the cycle of the delivery whose INT follows, which starts a
                # record of its own: what came before is finished.
                if rec is not None:
                    yield close(rec)
                    rec = None
                delivery_cycle = base_cycle + _CYCLE.unpack_from(mv, off)[1]
                off += cycle_size
            elif tag == SHUTDOWN:
                if rec is not None:
                    yield close(rec)
                if not seen_key:
                    raise self._error(off, "SHUTDOWN before the first KEY entry")
                rec = Record("shutdown", off, base_cycle, icount, mode, state_before=state)
                off += 1
            else:
                raise self._error(off, "unknown entry tag 0x%02x" % tag)
        if rec is not None:
            yield close(rec)

    @staticmethod
    def _context_from_regs(regs):
        """A CTX for a KEY that had none after it: the mode from CR0/EFLAGS; the CS base is
        right for real and virtual-8086 mode only; 16-bit code assumed."""
        cr0, eflags, cs = regs[REG_INDEX["cr0"]], regs[REG_INDEX["eflags"]], regs[10]
        if not cr0 & 1:
            mode = MODE_REAL
        elif eflags & (1 << 17):
            mode = MODE_V86
        else:
            mode = MODE_PROTECTED
        if cr0 & 0x80000001 == 0x80000001:
            mode |= MODE_PAGING
        base = cs << 4 if mode & 3 != MODE_PROTECTED else 0
        return mode, cs, base

    # -- state reconstruction
    def state_at(self, icount):
        """The registers (a dict with eip, cycle and icount) just before instruction
        number `icount` runs, or None if the trace does not reach it."""
        for rec in self._decode():
            if rec.kind == "insn" and rec.icount >= icount:
                state = rec.regs_before()
                state.update(eip=rec.eip, cycle=rec.cycle, icount=rec.icount)
                return state
        return None

    def stats(self):
        """Figures over the whole trace: see TraceStats."""
        return TraceStats.gather(self)


# ------------------------------------------------------------------ disassembly

_cs = {}
_asm_cache = {}


def _capstone(bits):
    md = _cs.get(bits)
    if md is None:
        try:
            import capstone
        except ImportError:
            return None
        md = capstone.Cs(capstone.CS_ARCH_X86,
                         capstone.CS_MODE_32 if bits == 32 else capstone.CS_MODE_16)
        _cs[bits] = md
    return md


def disassemble(code, eip=0, bits=16):
    """(mnemonic, operands) of the instruction `code` at offset `eip` in CS ("(bad)", ""
    when capstone cannot decode it).  Real-mode branch targets are offsets in CS."""
    key = (bits, eip, code)
    hit = _asm_cache.get(key)
    if hit is not None:
        return hit
    md = _capstone(bits)
    result = ("?", "")
    if md is not None:
        result = ("(bad)", "")
        for _, _, mnemonic, op_str in md.disasm_lite(code, eip, 1):
            result = (mnemonic, op_str)
    if len(_asm_cache) > 200000:
        _asm_cache.clear()
    _asm_cache[key] = result
    return result


def mnemonic(rec):
    """The mnemonic of an instruction record ("" for other records)."""
    if rec.kind != "insn":
        return ""
    return disassemble(rec.bytes, rec.eip, rec.bits)[0]


def asm_text(rec):
    if rec.kind != "insn":
        return ""
    m, ops = disassemble(rec.bytes, rec.eip, rec.bits)
    return "%s %s" % (m, ops) if ops else m


# ------------------------------------------------------------------ formatting

def _hexval(value, size):
    return "0x%0*x" % (2 * size, value)


def format_location(rec):
    """CS:EIP with EIP in 4 digits for 16-bit real/v86 code, else 8."""
    if rec.kind != "insn":
        return ""
    if not rec.code32 and rec.mode & 3 != MODE_PROTECTED and rec.eip < 0x10000:
        return "%04x:%04x" % (rec.cs, rec.eip)
    return "%04x:%08x" % (rec.cs, rec.eip)


def format_reg(name, value):
    if name in SEGMENT_REGS:
        return "%s=%04x" % (name, value)
    return "%s=%08x" % (name, value)


def format_effects(rec):
    """Registers changed, memory writes, I/O and interrupts, as in the text format."""
    parts = [format_reg(name, value) for name, value in rec.regs_after.items()]
    for lin, phy, size, value in rec.mem_writes:
        where = "0x%x" % lin if lin == phy else "0x%x(p=0x%x)" % (lin, phy)
        parts.append("[w %s=%s]" % (where, _hexval(value, size)))
    for port, size, is_write, value in rec.io:
        parts.append("[%s 0x%x=%s]" % ("out" if is_write else "in", port, _hexval(value, size)))
    for vector, kind, error in rec.interrupts:
        text = "[%s 0x%02x" % (("exc", "int", "irq", "nmi")[kind], vector)
        if error is not None:
            text += " err=0x%x" % error
        parts.append(text + "]")
    return " ".join(parts)


def format_record(rec):
    """One line of text for a record."""
    effects = format_effects(rec)
    head = "c=%d i=%d " % (rec.cycle, rec.icount)
    if rec.kind == "insn":
        line = "%s%s (l=0x%08x p=0x%08x) %-20s %-30s" % (
            head, format_location(rec), rec.linear, rec.physical,
            " ".join("%02x" % b for b in rec.bytes), asm_text(rec))
    elif rec.kind == "interrupt":
        line = "%s-- interrupt delivered between instructions" % head
    else:
        line = "%s-- shutdown (triple fault)" % head
    if effects:
        return "%s | %s" % (line, effects)
    return line.rstrip()


def format_clock(index, c):
    """One clock of a record's bus view, in the columns of the hardware suites' cycle
    traces: the clock's number in the instruction, ALE ("A"), the address, the segment,
    the bus status, the T-state, BHE# when asserted, the queue operation and its byte,
    and the data bus when recorded."""
    line = "  %5s %s %05x %s %-4s %-2s %s %s" % (
        "+%d" % index, "A" if c.ale else ".", c.address, c.segment, c.status, c.t,
        "   " if c.bhe else "BHE", c.qop)
    if c.qop in ("F", "S"):
        line += " %02x" % c.qbyte
    if c.data is not None:
        line += " d=%04x" % c.data
    return line


def format_clocks(rec):
    """The per-clock lines of a record (none when it has no BUS entries)."""
    return [format_clock(i, c) for i, c in enumerate(rec.clocks)]


def clock_to_dict(c):
    d = {"ale": c.ale, "address": c.address, "segment": c.segment, "status": c.status,
         "t": c.t, "qop": c.qop, "qbyte": c.qbyte, "bhe": c.bhe}
    if c.data is not None:
        d["data"] = c.data
    return d


def record_to_dict(rec, clocks=True):
    """A JSON-ready dict of a record (numbers as numbers); with `clocks`, its per-clock
    bus view as "clocks" when it has one."""
    d = {"kind": rec.kind, "cycle": rec.cycle, "icount": rec.icount}
    if rec.mode is not None:
        d["mode"] = rec.mode_name
        d["paging"] = rec.paging
        d["bits"] = rec.bits
    if rec.kind == "insn":
        d.update(cs=rec.cs, cs_base=rec.cs_base, eip=rec.eip, linear=rec.linear,
                 physical=rec.physical, bytes=rec.bytes.hex(), asm=asm_text(rec))
    d["regs"] = dict(rec.regs_after)
    d["mem_writes"] = [{"linear": lin, "physical": phy, "size": size, "value": value}
                       for lin, phy, size, value in rec.mem_writes]
    d["io"] = [{"port": port, "size": size, "dir": "out" if w else "in", "value": value}
               for port, size, w, value in rec.io]
    d["interrupts"] = [{"vector": v, "kind": INT_KIND_NAMES[k], "error": e}
                       for v, k, e in rec.interrupts]
    if clocks and rec.clocks:
        d["clocks"] = [clock_to_dict(c) for c in rec.clocks]
    return d


def format_json(rec, clocks=True):
    return json.dumps(record_to_dict(rec, clocks), separators=(",", ":"))


# ------------------------------------------------------------------ statistics

class TraceStats:
    """Figures over a trace (TraceReader.stats())."""

    def __init__(self):
        self.instructions = 0          # INSN records
        self.interrupt_records = 0     # deliveries between instructions
        self.shutdowns = 0
        self.first_cycle = None
        self.last_cycle = None
        self.first_icount = None
        self.mnemonics = collections.Counter()
        self.addresses = collections.Counter()      # (cs, eip, linear) -> count
        self.interrupts = collections.Counter()     # (vector, kind) -> count
        self.ports = collections.Counter()          # (port, is_write) -> count
        self.mem_writes = 0
        self.reg_writes = 0
        self.bus_clocks = 0            # clocks in BUS entries
        self.bus_timed = 0             # records with BUS entries
        self.stream_bytes = 0
        self.file_bytes = 0
        self.mode_changes = 0
        self.warnings = []

    @property
    def cycles(self):
        """Cycles from the first record's start to the last one's start."""
        if self.first_cycle is None:
            return 0
        return self.last_cycle - self.first_cycle

    @property
    def bytes_per_instruction(self):
        return self.stream_bytes / self.instructions if self.instructions else 0.0

    @classmethod
    def gather(cls, reader):
        s = cls()
        encodings = collections.Counter()           # (bits, bytes) -> count
        addresses = s.addresses
        interrupts = s.interrupts
        ports = s.ports
        last_mode = None
        for rec in reader.records():
            if s.first_cycle is None:
                s.first_cycle = rec.cycle
                s.first_icount = rec.icount
            s.last_cycle = rec.cycle
            if rec.kind == "insn":
                s.instructions += 1
                encodings[(rec.bits, rec.bytes)] += 1
                addresses[(rec.cs, rec.eip, rec.linear)] += 1
                if last_mode is not None and rec.mode != last_mode:
                    s.mode_changes += 1
                last_mode = rec.mode
            elif rec.kind == "interrupt":
                s.interrupt_records += 1
            else:
                s.shutdowns += 1
            for vector, kind, _ in rec.interrupts:
                interrupts[(vector, kind)] += 1
            for port, _, is_write, _ in rec.io:
                ports[(port, is_write)] += 1
            s.mem_writes += len(rec.mem_writes)
            s.reg_writes += len(rec.regs_after)
            if rec.clocks:
                s.bus_timed += 1
                s.bus_clocks += len(rec.clocks)
        # Disassemble each distinct encoding once, not each executed instruction.
        for (bits, code), n in encodings.items():
            s.mnemonics[disassemble(code, 0, bits)[0]] += n
        end = reader.truncated_at if reader.truncated_at is not None else reader.size
        s.stream_bytes = end - reader.data_start
        s.file_bytes = reader.size
        s.warnings = list(reader.warnings)
        return s

    def to_dict(self, top=20):
        return {
            "instructions": self.instructions,
            "interrupts_between_instructions": self.interrupt_records,
            "shutdowns": self.shutdowns,
            "first_cycle": self.first_cycle, "last_cycle": self.last_cycle,
            "cycles": self.cycles,
            "mnemonics": self.mnemonics.most_common(top),
            "hottest": [({"cs": cs, "eip": eip, "linear": lin}, n)
                        for (cs, eip, lin), n in self.addresses.most_common(top)],
            "interrupts": [({"vector": v, "kind": INT_KIND_NAMES[k]}, n)
                           for (v, k), n in sorted(self.interrupts.items())],
            "ports": [({"port": p, "dir": "out" if w else "in"}, n)
                      for (p, w), n in self.ports.most_common()],
            "mem_writes": self.mem_writes,
            "bus_clocks": self.bus_clocks,
            "bus_timed_records": self.bus_timed,
            "stream_bytes": self.stream_bytes,
            "file_bytes": self.file_bytes,
            "bytes_per_instruction": self.bytes_per_instruction,
        }


# ------------------------------------------------------------------ comparing records

def compare_records(a, b, cycles=True):
    """The fields in which two records differ, in order of importance: a list of
    (field, text describing A's value, text describing B's value); empty if they agree."""
    out = []
    if a.kind != b.kind:
        return [("kind", a.kind, b.kind)]
    if a.kind == "insn":
        if (a.cs, a.eip) != (b.cs, b.eip):
            out.append(("cs:eip", format_location(a), format_location(b)))
        if a.bytes != b.bytes:
            out.append(("bytes", a.bytes.hex(" "), b.bytes.hex(" ")))
        if (a.mode, a.cs_base) != (b.mode, b.cs_base):
            out.append(("mode", "mode 0x%02x base 0x%08x" % (a.mode, a.cs_base),
                        "mode 0x%02x base 0x%08x" % (b.mode, b.cs_base)))
        if a.physical != b.physical:
            out.append(("physical", "0x%08x" % a.physical, "0x%08x" % b.physical))
    if a.interrupts != b.interrupts:
        out.append(("interrupts", _effects_of(a, "interrupts"), _effects_of(b, "interrupts")))
    if a.io != b.io:
        out.append(("io", _effects_of(a, "io"), _effects_of(b, "io")))
    if a.mem_writes != b.mem_writes:
        out.append(("mem_writes", _effects_of(a, "mem_writes"), _effects_of(b, "mem_writes")))
    if a.regs_after != b.regs_after:
        names = [n for n in REG_NAMES
                 if a.regs_after.get(n) != b.regs_after.get(n)]
        out.append(("regs", _regs_text(a, names), _regs_text(b, names)))
    if a.state_before != b.state_before:
        names = [n for n, x, y in zip(REG_NAMES, a.state_before, b.state_before) if x != y]
        out.append(("state", " ".join(format_reg(n, a.regs_before()[n]) for n in names),
                    " ".join(format_reg(n, b.regs_before()[n]) for n in names)))
    if cycles and a.cycle != b.cycle:
        out.append(("cycle", str(a.cycle), str(b.cycle)))
    if cycles and a.clocks != b.clocks:
        out.append(("clocks", _clocks_text(a, b), _clocks_text(b, a)))
    return out


def _clocks_text(rec, other):
    """A record's bus view where it first differs from the other's."""
    n = len(rec.clocks)
    i = next((i for i, (x, y) in enumerate(zip(rec.clocks, other.clocks)) if x != y),
             min(n, len(other.clocks)))
    if i >= n:
        return "%d clocks" % n
    return "%d clocks; clock %s" % (n, format_clock(i, rec.clocks[i]).strip())


def _regs_text(rec, names):
    return " ".join(format_reg(n, rec.regs_after[n]) if n in rec.regs_after
                    else "%s unchanged" % n for n in names)


def _effects_of(rec, field):
    only = Record(rec.kind, rec.offset, rec.cycle, rec.icount, rec.mode)
    setattr(only, field, getattr(rec, field))
    return format_effects(only) or "(none)"
