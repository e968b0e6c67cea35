"""Runner for the hardware-captured single-step suites in ../shared/conformance.

The suites (SingleStepTests 8086 and 80286, formats in ../shared/conformance/README.md) give,
for one instruction each, an initial CPU state and RAM, the final state and RAM, and the bus
trace the real chip produced.  This module loads them (JSON for the 8086, the MOO chunk format
for the 286/386 and 8086 A4), runs each test on a `core.machine.Machine` through its public
Python API, and reports per opcode file.

    python -m core.conformance ../shared/conformance/8086 [--opcode F6.7 ...] [--cycles]
    cycle86 conformance ../shared/conformance/80286/real_mode

The loaders do not import the CPU, so they work (and are tested) on their own.
"""
import argparse
import gzip
import json
import os
import re
import struct
import sys
import zlib

__all__ = [
    "ConformanceError", "Test", "Interrupt", "OpcodeFile", "Metadata", "Suite", "FileResult",
    "Runner", "load_file", "load_json", "load_moo", "load_metadata", "load_revocations",
    "open_suite", "parse_opcode_filter", "hardware_cycles", "add_subparser", "cli_main", "main",
]


class ConformanceError(Exception):
    """Unusable suite input: the message names the file and what is wrong with it."""


# --------------------------------------------------------------------------------------------
# Register layouts (README §3.4).  The bit order of the MOO register chunks is fixed by the
# format; the 32-bit order is deliberately not the 16-bit one.

REGS16 = ("ax", "bx", "cx", "dx", "cs", "ss", "ds", "es", "sp", "bp", "si", "di", "ip", "flags")
REGS32 = ("cr0", "cr3", "eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp",
          "cs", "ds", "es", "fs", "gs", "ss", "eip", "eflags", "dr6", "dr7")

# The order registers are loaded into the machine: control registers first so the CPU is in
# real mode before the segment registers are loaded the real-mode way, flags last.
_LOAD_ORDER = ("cr0", "cr3", "dr6", "dr7", "cs", "ss", "ds", "es", "fs", "gs",
               "ax", "bx", "cx", "dx", "sp", "bp", "si", "di",
               "eax", "ebx", "ecx", "edx", "esp", "ebp", "esi", "edi", "ip", "eip",
               "flags", "eflags")
_LOAD_RANK = {name: i for i, name in enumerate(_LOAD_ORDER)}

_FLAG_BITS = {"o": 11, "d": 10, "i": 9, "s": 7, "z": 6, "a": 4, "p": 2, "c": 0}
# Names of FLAGS bits for readable diffs; bits without a letter print as bN.
_FLAG_NAMES = {0: "c", 2: "p", 4: "a", 6: "z", 7: "s", 8: "t", 9: "i", 10: "d", 11: "o",
               12: "iopl0", 13: "iopl1", 14: "nt"}

# The cycle-record layout shared by the 8086, 286 and 386 MOO files (README §3.5).
_CYCLE = struct.Struct("<BIBBBBHBBBB")
_RAM_ENTRY = struct.Struct("<IB")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_CHUNK_HEAD = struct.Struct("<4sI")

# MOO cpu_id -> (cycle86 model, how a test ends).  The 8086/8088 tests are exactly one
# instruction with no terminator; the 286/386 generator appends a HLT and the test ends when
# the CPU halts (README §4).
_MOO_CPUS = {
    b"8086": ("8086", "step"), b"8088": ("8088", "step"), b"88  ": ("8088", "step"),
    b"V20 ": (None, "step"), b"V30 ": (None, "step"),
    b"186 ": ("80186", "halt"), b"188 ": ("80186", "halt"),
    b"286 ": ("80286", "halt"), b"C286": ("80286", "halt"), b"386E": ("80386", "halt"),
}
# META cpu_type -> cycle86 model (README §3.2); V20/V30 have no model here.
_META_CPU_TYPES = {0: "8088", 1: "8086", 4: "80186", 5: "80186", 6: "80286", 7: "80386",
                   8: "80286"}
# Physical memory each model's tests address: 20-bit on the 8086 family, 24-bit on 286/386.
MEMORY_SIZE = {"8088": 1 << 20, "8086": 1 << 20, "80186": 1 << 20,
               "80286": 16 << 20, "80386": 16 << 20}

# Opcode bytes that are prefixes, skipped when finding the ModR/M byte of an ungrouped file.
_PREFIXES = frozenset((0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65, 0x66, 0x67, 0xF0, 0xF2, 0xF3))

_FILE_RE = re.compile(r"^([0-9A-Fa-f]{2,8})(?:\.([0-7]))?\.(json\.gz|moo\.gz)$", re.IGNORECASE)
_FILTER_RE = re.compile(r"^([0-9A-Fa-f]{2,8})(?:\.([0-7]))?$")


# --------------------------------------------------------------------------------------------
# One test, as plain data.

class Interrupt:
    """An interrupt or exception the test took.

    From the MOO `EXCP` chunk, or inferred for the 8086/8088 suites, which have no such record
    (then `flag_address` is None).  `flag_address` is the generator's value, kept for reference
    only: it is rounded down to even when SP is odd (README §4), so the runner locates the
    pushed FLAGS word from SS:SP instead.
    """
    __slots__ = ("number", "flag_address")

    def __init__(self, number, flag_address=None):
        self.number = number
        self.flag_address = flag_address

    def __repr__(self):
        return f"Interrupt(number={self.number}, flag_address={self.flag_address!r})"


class Test:
    """One single-step test.

    Registers are dicts name -> int (16-bit names for REGS files, 32-bit names for RG32);
    `final_regs` lists only the registers that changed.  RAM is a sequence of (address, byte)
    pairs with physical addresses.  `cycles` are the hardware bus-trace records in file order:
    for JSON the 11 columns as stored, for MOO 11-tuples of ints (README §3.5); `cycle_count`
    is their number.  `index` is the test's position (MOO) or its stored number (JSON).
    """
    __slots__ = ("name", "bytes", "initial_regs", "initial_ram", "initial_queue",
                 "final_regs", "final_ram", "final_queue", "final_masks", "cycle_count",
                 "_cycles", "_cycles_raw", "exception", "hash", "index")

    def __init__(self, name, bytes_, initial_regs, initial_ram, final_regs, final_ram,
                 cycles=None, cycles_raw=None, cycle_count=0, exception=None, hash_=None,
                 index=0, initial_queue=None, final_queue=None, final_masks=None):
        self.name = name
        self.bytes = bytes_
        self.initial_regs = initial_regs
        self.initial_ram = initial_ram
        self.initial_queue = initial_queue
        self.final_regs = final_regs
        self.final_ram = final_ram
        self.final_queue = final_queue
        self.final_masks = final_masks
        self._cycles = cycles
        self._cycles_raw = cycles_raw
        self.cycle_count = cycle_count
        self.exception = exception
        self.hash = hash_
        self.index = index

    @property
    def cycles(self):
        # MOO traces are decoded on first use: most runs never look at them, and decoding
        # every record of 65,000 tests up front would dominate the load time.
        if self._cycles is None:
            raw = self._cycles_raw
            self._cycles = [] if raw is None else list(_CYCLE.iter_unpack(raw))
            self._cycles_raw = None
        return self._cycles

    def __repr__(self):
        return f"Test(#{self.index} {self.name!r} bytes={bytes(self.bytes).hex()})"


class OpcodeFile:
    """The tests of one opcode file plus what its name and header say about them."""

    def __init__(self, path, opcode, reg, fmt, cpu_id, tests, meta=None, file_masks=None,
                 version=None):
        self.path = path
        self.opcode = opcode          # upper-case hex string from the file name, e.g. "F6"
        self.reg = reg                # group number from the file name, or None
        self.fmt = fmt                # "json" or "moo"
        self.cpu_id = cpu_id          # MOO cpu_id bytes, or b"8086" for the JSON suite
        self.tests = tests
        self.meta = meta              # decoded META chunk (dict) or None
        self.file_masks = file_masks  # top-level RMSK/RM32 register masks, or None
        self.version = version        # MOO (major, minor), None for JSON

    @property
    def key(self):
        return self.opcode if self.reg is None else f"{self.opcode}.{self.reg}"

    @property
    def end(self):
        """How a test ends: "step" (one instruction) or "halt" (run to the appended HLT)."""
        return _MOO_CPUS.get(self.cpu_id, (None, "halt"))[1]

    @property
    def default_model(self):
        if self.meta is not None and self.meta["cpu_type"] in _META_CPU_TYPES:
            return _META_CPU_TYPES[self.meta["cpu_type"]]
        if self.fmt == "json":
            # The JSON suites are the 8086 and the 8088; only the directory tells them apart.
            return "8088" if "8088" in os.path.basename(os.path.dirname(self.path)) else "8086"
        return _MOO_CPUS.get(self.cpu_id, (None, None))[0]

    @property
    def mnemonic(self):
        if self.meta is not None and self.meta["mnemonic"]:
            return self.meta["mnemonic"]
        for test in self.tests[:1]:
            words = [w for w in test.name.split() if w not in _PREFIX_WORDS]
            if words:
                return words[0]
        return ""

    def __len__(self):
        return len(self.tests)


_PREFIX_WORDS = frozenset(("cs", "ds", "es", "ss", "fs", "gs", "lock", "rep", "repe", "repz",
                           "repne", "repnz"))


def parse_file_name(path):
    """(opcode, reg, fmt) from `XX[.r].json.gz` / `XX[.r].MOO.gz`; ConformanceError otherwise."""
    name = os.path.basename(path)
    m = _FILE_RE.match(name)
    if not m or len(m.group(1)) % 2:
        raise ConformanceError(
            f"{path}: file name not recognised (expected XX.json.gz, XX.r.json.gz, XX.MOO.gz "
            f"or XX.r.MOO.gz, XX the opcode in hex, r the ModR/M reg field)")
    reg = None if m.group(2) is None else int(m.group(2))
    fmt = "json" if m.group(3).lower() == "json.gz" else "moo"
    return m.group(1).upper(), reg, fmt


def _read_gzip(path):
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise ConformanceError(f"{path}: no such file") from None
    except (OSError, EOFError, zlib.error) as e:
        # gzip reports a bad header as OSError/BadGzipFile and a cut-off stream as EOFError.
        raise ConformanceError(f"{path}: not a valid gzip file ({e})") from None


def load_file(path):
    """Load one opcode file (format chosen by its name)."""
    opcode, reg, fmt = parse_file_name(path)
    loader = load_json if fmt == "json" else load_moo
    return loader(path, _parsed_name=(opcode, reg))


# --------------------------------------------------------------------------------------------
# JSON (8086 suite; also the 8088 key names hash/idx).

def load_json(path, _parsed_name=None):
    opcode, reg = _parsed_name or parse_file_name(path)[:2]
    raw = _read_gzip(path)
    try:
        data = json.loads(raw)
    except UnicodeDecodeError as e:
        raise ConformanceError(f"{path}: bad JSON (not UTF-8 text: {e})") from None
    except json.JSONDecodeError as e:
        raise ConformanceError(
            f"{path}: bad JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
    if not isinstance(data, list):
        raise ConformanceError(f"{path}: bad JSON: expected a list of tests, got "
                               f"{type(data).__name__}")
    tests = []
    for position, t in enumerate(data):
        try:
            tests.append(_json_test(t, position))
        except (KeyError, TypeError, ValueError) as e:
            raise ConformanceError(f"{path}: test #{position}: {_describe(e)}") from None
    return OpcodeFile(path, opcode, reg, "json", b"8086", tests)


def _describe(e):
    if isinstance(e, KeyError):
        return f"missing key '{e.args[0]}'"
    return str(e)


def _json_test(t, position):
    if not isinstance(t, dict):
        raise TypeError(f"expected a test object, got {type(t).__name__}")
    initial, final = t["initial"], t["final"]
    iregs, fregs = initial["regs"], final["regs"]
    for r in REGS16:
        if not isinstance(iregs.get(r), int):
            raise KeyError(f"initial.regs.{r}")
    for r, v in fregs.items():
        if r not in _REGS16_SET or not isinstance(v, int):
            raise ValueError(f"bad register {r!r}: {v!r} in final.regs")
    iram, fram = initial["ram"], final["ram"]
    for where, ram in (("initial.ram", iram), ("final.ram", fram)):
        # Checked here so that bad data is reported as bad data, not as a CPU failure.
        if not all(len(p) == 2 and type(p[0]) is int and type(p[1]) is int for p in ram):
            raise ValueError(f"{where}: entries must be [address, byte] pairs")
    if "test_hash" in t:
        hash_ = t["test_hash"]
    elif "hash" in t:
        hash_ = t["hash"]
    else:
        raise KeyError("test_hash' (or 'hash")
    if "test_num" in t:
        index = t["test_num"]
    elif "idx" in t:
        index = t["idx"]
    else:
        raise KeyError("test_num' (or 'idx")
    cycles = t["cycles"]
    return Test(t["name"], t["bytes"], iregs, iram, fregs, fram,
                cycles=cycles, cycle_count=len(cycles), hash_=str(hash_).lower(), index=index,
                initial_queue=initial.get("queue"), final_queue=final.get("queue"),
                exception=_inferred_interrupt(iram, iregs, fregs))


_REGS16_SET = frozenset(REGS16)


# --------------------------------------------------------------------------------------------
# MOO (README §3): gzip of nested chunks `id[4] length:u32 payload[length]`.

def _chunks(b, start, end, path, parent):
    """Yield (id, payload_offset, payload_length) for the chunks in b[start:end]."""
    o = start
    while o < end:
        if o + 8 > end:
            raise ConformanceError(
                f"{path}: truncated chunk header at offset {o} in {parent} "
                f"({end - o} of 8 bytes present)")
        cid, n = _CHUNK_HEAD.unpack_from(b, o)
        if o + 8 + n > end:
            raise ConformanceError(
                f"{path}: truncated chunk {cid.decode('latin-1')!r} at offset {o} in {parent}: "
                f"payload of {n} bytes, {end - o - 8} present")
        yield cid, o + 8, n
        o += 8 + n


def _need(path, cid, off, n, size):
    if n < size:
        raise ConformanceError(f"{path}: chunk {cid!r} at offset {off - 8} is {n} bytes, "
                               f"needs at least {size}")


def load_moo(path, _parsed_name=None):
    opcode, reg = _parsed_name or parse_file_name(path)[:2]
    b = _read_gzip(path)
    top = _chunks(b, 0, len(b), path, "the file")
    first = next(top, None)
    if first is None or first[0] != b"MOO ":
        raise ConformanceError(f"{path}: not a MOO file (no 'MOO ' header chunk at offset 0)")
    _, o, n = first
    _need(path, "MOO ", o, n, 12)
    major, minor = b[o], b[o + 1]
    (test_count,) = _U32.unpack_from(b, o + 4)
    cpu_id = bytes(b[o + 8:o + 12])
    meta = file_masks = None
    tests = []
    for cid, o, n in top:
        if cid == b"TEST":
            # Reference readers stop after the header's test_count (README §3.1).
            if len(tests) < test_count:
                tests.append(_moo_test(b, o, n, path, len(tests)))
        elif cid == b"META":
            _need(path, "META", o, n, 31)
            (set_major, set_minor, cpu_type, op, mnem, _ct, _seed, mode,
             ext) = struct.unpack_from("<BBBI8sIQBB", b, o)
            meta = {"set_version": (set_major, set_minor), "cpu_type": cpu_type,
                    "opcode": op, "mnemonic": mnem.decode("ascii", "replace").strip(),
                    "cpu_mode": mode, "extension": ext}
        elif cid in (b"RMSK", b"RM32"):
            file_masks = _moo_regs(b, o, n, cid, path)
        # Any other top-level id is from a newer format revision and is skipped by design.
    if len(tests) < test_count:
        raise ConformanceError(f"{path}: header promises {test_count} tests, file holds "
                               f"{len(tests)} (truncated at offset {len(b)}?)")
    return OpcodeFile(path, opcode, reg, "moo", cpu_id, tests, meta=meta, file_masks=file_masks,
                      version=(major, minor))


def _moo_regs(b, o, n, cid, path):
    if cid in (b"REGS", b"RMSK"):
        names, word, width = REGS16, _U16, 2
    else:
        names, word, width = REGS32, _U32, 4
    _need(path, cid.decode("latin-1"), o, n, width)
    (mask,) = word.unpack_from(b, o)
    if mask >> len(names):
        raise ConformanceError(f"{path}: chunk {cid.decode('latin-1')!r} at offset {o - 8} "
                               f"sets unknown register bits (mask {mask:#x})")
    count = bin(mask).count("1")
    if n < width * (count + 1):
        raise ConformanceError(f"{path}: truncated chunk {cid.decode('latin-1')!r} at offset "
                               f"{o - 8}: {count} registers need {width * (count + 1)} bytes, "
                               f"{n} present")
    values = struct.unpack_from(("<%dH" if width == 2 else "<%dI") % count, b, o + width)
    regs = {}
    i = 0
    for bit, name in enumerate(names):
        if mask >> bit & 1:
            regs[name] = values[i]
            i += 1
    return regs


def _moo_ram(b, o, n, path):
    _need(path, "RAM ", o, n, 4)
    (count,) = _U32.unpack_from(b, o)
    if n < 4 + 5 * count:
        raise ConformanceError(f"{path}: truncated chunk 'RAM ' at offset {o - 8}: {count} "
                               f"entries need {4 + 5 * count} bytes, {n} present")
    return list(_RAM_ENTRY.iter_unpack(b[o + 4:o + 4 + 5 * count]))


def _moo_len_bytes(b, o, n, cid, path):
    _need(path, cid, o, n, 4)
    (count,) = _U32.unpack_from(b, o)
    if n < 4 + count:
        raise ConformanceError(f"{path}: truncated chunk {cid!r} at offset {o - 8}: "
                               f"{count} bytes declared, {n - 4} present")
    return b[o + 4:o + 4 + count]


def _moo_state(b, o, n, path, where):
    regs = ram = queue = masks = None
    for cid, so, sn in _chunks(b, o, o + n, path, where):
        if cid == b"REGS" or cid == b"RG32":
            regs = _moo_regs(b, so, sn, cid, path)
        elif cid == b"RAM ":
            ram = _moo_ram(b, so, sn, path)
        elif cid == b"QUEU":
            queue = list(_moo_len_bytes(b, so, sn, "QUEU", path))
        elif cid == b"RMSK" or cid == b"RM32":
            masks = _moo_regs(b, so, sn, cid, path)
        # EA32 and descriptor-cache chunks are informational; unknown ids are skipped.
    return regs, ram, queue, masks


def _moo_test(b, o, n, path, position):
    where = f"TEST #{position} (offset {o - 8})"
    _need(path, "TEST", o, n, 4)
    name = None
    code = None
    init = fina = None
    cycles_raw = None
    count = 0
    exception = None
    hash_ = None
    for cid, so, sn in _chunks(b, o + 4, o + n, path, where):
        if cid == b"NAME":
            name = _moo_len_bytes(b, so, sn, "NAME", path).decode("ascii", "replace")
        elif cid == b"BYTS":
            code = list(_moo_len_bytes(b, so, sn, "BYTS", path))
        elif cid == b"INIT":
            init = _moo_state(b, so, sn, path, where + " INIT")
        elif cid == b"FINA":
            fina = _moo_state(b, so, sn, path, where + " FINA")
        elif cid == b"CYCL":
            _need(path, "CYCL", so, sn, 4)
            (count,) = _U32.unpack_from(b, so)
            if sn < 4 + 15 * count:
                raise ConformanceError(f"{path}: truncated chunk 'CYCL' at offset {so - 8}: "
                                       f"{count} records need {4 + 15 * count} bytes, "
                                       f"{sn} present")
            cycles_raw = bytes(b[so + 4:so + 4 + 15 * count])
        elif cid == b"EXCP":
            _need(path, "EXCP", so, sn, 5)
            number, flag_address = struct.unpack_from("<BI", b, so)
            exception = Interrupt(number, flag_address)
        elif cid == b"HASH":
            _need(path, "HASH", so, sn, 20)
            hash_ = b[so:so + 20].hex()
        # GMET (generator seed) and ids from later revisions are skipped.
    for label, value in (("NAME", name), ("BYTS", code), ("INIT", init), ("FINA", fina)):
        if value is None:
            raise ConformanceError(f"{path}: {where} has no {label} chunk")
    if init[0] is None or init[1] is None:
        raise ConformanceError(f"{path}: {where} INIT lacks its registers or RAM")
    names = REGS32 if "eax" in init[0] else REGS16
    missing = [r for r in names if r not in init[0]]
    if missing:
        raise ConformanceError(f"{path}: {where} INIT lacks registers {', '.join(missing)}")
    fregs = fina[0] or {}
    if exception is None and names is REGS16:
        exception = _inferred_interrupt(init[1], init[0], fregs)
    return Test(name, code, init[0], init[1], fregs, fina[1] or [],
                cycles_raw=cycles_raw, cycle_count=count, exception=exception, hash_=hash_,
                index=position, initial_queue=init[2], final_queue=fina[2],
                final_masks=fina[3])


# --------------------------------------------------------------------------------------------
# metadata.json and revocation lists (README §6, §2.6).

_CLASSES = {"normal": "documented"}


def flags_mask_from_pattern(pattern):
    """AND mask from an `odiszapc` pattern: a letter marks an undefined flag."""
    if len(pattern) != 8:
        raise ValueError(f"flags pattern {pattern!r} is not 8 characters")
    mask = 0xFFFF
    for letter, ch in zip("odiszapc", pattern.lower()):
        if ch == letter:
            mask &= ~(1 << _FLAG_BITS[letter])
        elif ch != ".":
            raise ValueError(f"flags pattern {pattern!r}: unexpected {ch!r}")
    return mask


class Metadata:
    """Per-opcode status and undefined-flags mask from a suite's metadata.json."""

    def __init__(self, path=None, opcodes=None):
        self.path = path
        self.opcodes = opcodes or {}

    def _entry_mask(self, entry):
        if "flags-mask" in entry:
            return int(entry["flags-mask"]) & 0xFFFF
        if "flags" in entry:
            return flags_mask_from_pattern(entry["flags"])
        return 0xFFFF

    def lookup(self, opcode, reg=None):
        """(status, mask, reg_masks) for an opcode file.

        `status` is the metadata status or None when the opcode is not listed.  For a file
        that covers a whole group although the metadata splits it by reg (8F, C6, C7),
        `reg_masks` maps reg -> mask and the status is that of the documented form.
        """
        entry = self.opcodes.get(opcode)
        if entry is None and len(opcode) > 2:
            # 386 names carry 66/67 size prefixes that do not change the flags (README §4).
            bare = opcode
            while len(bare) > 2 and bare[:2] in ("66", "67"):
                bare = bare[2:]
            entry = self.opcodes.get(bare)
        if entry is None:
            return None, 0xFFFF, None
        if "reg" in entry:
            regs = entry["reg"]
            if reg is not None:
                sub = regs.get(str(reg))
                if sub is None:
                    return None, 0xFFFF, None
                return sub.get("status"), self._entry_mask(sub), None
            statuses = [sub.get("status") for sub in regs.values()]
            status = "normal" if "normal" in statuses else (statuses[0] if statuses else None)
            reg_masks = {int(r): self._entry_mask(sub) for r, sub in regs.items()}
            if len(set(reg_masks.values())) <= 1:
                return status, next(iter(reg_masks.values()), 0xFFFF), None
            return status, 0xFFFF, reg_masks
        return entry.get("status"), self._entry_mask(entry), None


def status_class(status):
    """Summary class of a metadata status: documented, alias, undocumented, undefined, fpu..."""
    if status is None:
        return "unclassified"
    return _CLASSES.get(status, status)


def load_metadata(path):
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read())
    except OSError as e:
        raise ConformanceError(f"{path}: cannot read ({e.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        where = f" at line {e.lineno} column {e.colno}" if hasattr(e, "lineno") else ""
        raise ConformanceError(f"{path}: bad JSON{where}: {getattr(e, 'msg', e)}") from None
    opcodes = data.get("opcodes") if isinstance(data, dict) else None
    if not isinstance(opcodes, dict):
        raise ConformanceError(f"{path}: missing key 'opcodes'")
    md = Metadata(path, {k.upper(): v for k, v in opcodes.items()})
    try:
        for key in md.opcodes:
            entry = md.opcodes[key]
            for sub in entry.get("reg", {}).values() if "reg" in entry else (entry,):
                md._entry_mask(sub)
    except (ValueError, TypeError, AttributeError) as e:
        raise ConformanceError(f"{path}: opcode {key}: {e}") from None
    return md


_HASH_RE = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")


def load_revocations(path):
    """Revoked test hashes (lower-case hex; `#` starts a comment line)."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise ConformanceError(f"{path}: cannot read ({e})") from None
    hashes = set()
    for lineno, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not _HASH_RE.match(line.lower()):
            raise ConformanceError(f"{path}: line {lineno}: not a SHA-1/SHA-256 hash: {line!r}")
        hashes.add(line.lower())
    return hashes


# --------------------------------------------------------------------------------------------
# Suites and opcode filters.

class SuiteFile:
    """One opcode file of a suite, before it is loaded."""

    def __init__(self, path, opcode, reg, fmt, status, mask, reg_masks):
        self.path = path
        self.opcode = opcode
        self.reg = reg
        self.fmt = fmt
        self.status = status
        self.mask = mask
        self.reg_masks = reg_masks

    @property
    def key(self):
        return self.opcode if self.reg is None else f"{self.opcode}.{self.reg}"

    @property
    def cls(self):
        return status_class(self.status)

    def load(self):
        loader = load_json if self.fmt == "json" else load_moo
        return loader(self.path, _parsed_name=(self.opcode, self.reg))


class Suite:
    def __init__(self, directory, files, metadata, revoked, name):
        self.directory = directory
        self.files = files
        self.metadata = metadata
        self.revoked = revoked
        self.name = name

    def select(self, filters):
        """The files matching any of the --opcode filters (all files when none given)."""
        if not filters:
            return list(self.files)
        chosen = []
        for text in filters:
            opcode, reg = parse_opcode_filter(text)
            hits = [f for f in self.files
                    if f.opcode == opcode and (reg is None or f.reg == reg)]
            if not hits:
                raise ConformanceError(f"--opcode {text}: no such opcode file in "
                                       f"{self.directory}")
            chosen.extend(f for f in hits if f not in chosen)
        order = {id(f): i for i, f in enumerate(self.files)}
        return sorted(chosen, key=lambda f: order[id(f)])


def parse_opcode_filter(text):
    """`00`, `F6.7`, `F6` (the whole group), `0FA0` -> (opcode, reg or None)."""
    m = _FILTER_RE.match(text.strip())
    if not m or len(m.group(1)) % 2:
        raise ConformanceError(f"--opcode {text}: malformed (expected hex opcode bytes such as "
                               f"00, A4 or 0FA0, optionally .r with r the group reg 0-7)")
    return m.group(1).upper(), None if m.group(2) is None else int(m.group(2))


def _suite_name(directory):
    parts = os.path.normpath(os.path.abspath(directory)).split(os.sep)
    for part in reversed(parts):
        if re.match(r"^(80)?(86|88|186|188|286|386)$", part):
            return part
    return parts[-1] or directory


def open_suite(path):
    """A suite from a directory of opcode files or from one opcode file."""
    if os.path.isdir(path):
        directory = path
        names = sorted(n for n in os.listdir(path)
                       if n.lower().endswith(".json.gz") or n.lower().endswith(".moo.gz"))
        if not names:
            raise ConformanceError(f"{path}: no test files (*.json.gz, *.MOO.gz) here")
        paths = [os.path.join(path, n) for n in names]
    elif os.path.isfile(path):
        directory = os.path.dirname(path) or "."
        paths = [path]
    else:
        raise ConformanceError(f"{path}: no such file or directory")
    md_path = os.path.join(directory, "metadata.json")
    metadata = load_metadata(md_path) if os.path.isfile(md_path) else Metadata()
    revoked = set()
    # The 80286 list sits next to real_mode/, not inside it.
    for d in (directory, os.path.dirname(os.path.abspath(directory))):
        rl = os.path.join(d, "revocation_list.txt")
        if os.path.isfile(rl):
            revoked = load_revocations(rl)
            break
    files = []
    for p in paths:
        opcode, reg, fmt = parse_file_name(p)
        status, mask, reg_masks = metadata.lookup(opcode, reg)
        files.append(SuiteFile(p, opcode, reg, fmt, status, mask, reg_masks))
    # Upper-case hex of equal length sorts numerically; 386 names with prefixes come last.
    files.sort(key=lambda f: (len(f.opcode), f.opcode, -1 if f.reg is None else f.reg))
    return Suite(directory, files, metadata, revoked, _suite_name(directory))


# --------------------------------------------------------------------------------------------
# Cycle counts.
#
# What the 8086 trace measures: every test starts with the queue already full and its first
# record is the clock whose queue status is F, the instruction's first byte (the first prefix,
# if any) leaving the queue.  The trace stops before the clock that reports F for the *next*
# instruction: across all 64,400 tests (JSON and A4.MOO) the F records number the prefixes plus
# one and the last record is never an F.  The final `queue` confirms that the next first byte
# has already left the queue when the state is captured (NOP: 5 bytes queued -> 3 remain).
# So the trace spans first-byte to next-first-byte, and its length is the instruction's
# execution time in the sense of the Intel timing tables, which also run from one
# instruction's first queue read to the next one's.  The 8086 reports QS0/QS1 one clock after
# the queue operation, but both ends are shifted by the same clock, so the span is unchanged.
# Checks against the documented 8086 times, which assume a full queue and no bus contention:
# NOP 90 = 3 records (3 clocks), CLC/STC/CLD = 2, MOV reg,reg 88-8B = 2 in every test, INC r16
# = 2, CBW = 2, SAHF = 4, DAA = 4, TEST AL,imm8 = 4; one segment prefix on MOV reg,reg gives 4
# (the documented 2 per prefix).  Instructions whose bus cycles compete with prefetch (PUSH:
# 10, 11, 14 or 15 depending on SP alignment and an in-flight code fetch) or whose microcode
# branches on data (CWD: 5, or 6 when AX is negative) spread around the book value: that is
# the hardware truth a bus-level model must reproduce.  Hence the hardware count is simply the number of records,
# and it is compared with the value m.step() returns for the same instruction.

def hardware_cycles(test):
    """The hardware's clock count for one 8086/8088 test (see the reasoning above)."""
    return test.cycle_count


def bus_trace_matches(records, cycles):
    """Whether the bus model's per-clock records equal the hardware trace, clock by clock:
    ALE, the address latched at T1, the bus status while driven, the T-state and the queue
    status (core.biu8086.trace_key).  Data values are not compared."""
    from core.biu8086 import hardware_record, trace_key
    if len(records) != len(cycles):
        return False
    for mine, hw in zip(records, cycles):
        if trace_key(mine) != trace_key(hardware_record(hw)):
            return False
    return True


# --------------------------------------------------------------------------------------------
# Running.

class Difference:
    __slots__ = ("what", "expected", "actual", "width", "mask")

    def __init__(self, what, expected, actual, width, mask=None):
        self.what = what
        self.expected = expected
        self.actual = actual
        self.width = width
        self.mask = mask

    def __str__(self):
        if self.expected is None:
            return f"{self.what}: {self.actual}"
        w = self.width
        text = f"{self.what}: expected 0x{self.expected:0{w}x} got 0x{self.actual:0{w}x}"
        if self.what in ("flags", "eflags"):
            bits = (self.expected ^ self.actual) & (0xFFFF if self.mask is None else self.mask)
            names = [_FLAG_NAMES.get(i, f"b{i}") for i in range(bits.bit_length() - 1, -1, -1)
                     if bits >> i & 1]
            if names:
                # Single letters run together (oszc); longer names are spaced.
                text += " (" + "".join(n if len(n) == 1 else f" {n} " for n in names).strip() + ")"
        return text


class Failure:
    """The first failing test of a file."""

    def __init__(self, test, differences):
        self.test = test
        self.differences = differences

    def describe(self, limit=6):
        diffs = [str(d) for d in self.differences[:limit]]
        if len(self.differences) > limit:
            diffs.append(f"... {len(self.differences) - limit} more")
        return f'"{self.test.name}" ' + "; ".join(diffs)


class FileResult:
    def __init__(self, sfile, mnemonic):
        self.file = sfile
        self.key = sfile.key
        self.mnemonic = mnemonic
        self.cls = sfile.cls
        self.total = 0
        self.passed = 0
        self.revoked = 0
        self.first_failure = None
        self.cycle_total = 0          # tests whose cycle count was compared
        self.cycle_matched = 0
        self.first_cycle_mismatch = None   # (test, hardware, emulated)
        self.trace_total = 0          # tests whose whole per-clock bus trace was compared
        self.trace_matched = 0

    @property
    def failed(self):
        return self.total - self.passed

    def line(self, cycles=False):
        status = "ok" if self.failed == 0 else "FAIL"
        text = f"{self.key:<5} {self.mnemonic:<8} {self.passed}/{self.total} {status}"
        if self.revoked:
            text += f" ({self.revoked} revoked)"
        if cycles and self.cycle_total:
            text += f"  cycles {self.cycle_matched}/{self.cycle_total}"
            if self.trace_total:
                text += f" trace {self.trace_matched}/{self.trace_total}"
            if self.first_cycle_mismatch is not None:
                t, hw, got = self.first_cycle_mismatch
                text += f' (first: "{t.name}" hardware {hw} got {got})'
        if self.first_failure is not None:
            text += f"  first: {self.first_failure.describe()}"
        return text


class Runner:
    """Runs opcode files on machines it builds once per CPU model and reuses.

    Reusing one Machine across tests is what keeps a full suite fast; memory is never cleared
    because every test lists each byte it reads or writes (README §2).  `machine_factory(model,
    memory)` builds a machine; the default is core.machine.Machine.  A 286/386 test that has
    not halted after `max_steps` instructions or `max_cycles` cycles fails.
    """

    def __init__(self, model=None, machine_factory=None, max_cycles=100_000, max_steps=1000):
        self.model = model
        self.max_cycles = max_cycles
        self.max_steps = max_steps
        self._factory = machine_factory
        self._machines = {}

    def machine(self, model):
        m = self._machines.get(model)
        if m is None:
            factory = self._factory
            if factory is None:
                try:
                    from core.machine import Machine
                except ImportError as e:
                    raise ConformanceError(
                        f"cannot import core.machine ({e}); build the Cython modules with "
                        f"`python setup.py build_ext --inplace`") from None

                def factory(cpu, memory):
                    # The 8086/8088 suites record every clock: time them by the bus model.
                    return Machine(cpu=cpu, memory=memory, bus_timing=cpu in ("8086", "8088"))
            memory = MEMORY_SIZE.get(model, 16 << 20)
            try:
                m = factory(model, memory)
            except (ValueError, KeyError, TypeError) as e:
                # An unknown --cpu is a usage error, reported like bad input.
                raise ConformanceError(f"cannot build a {model!r} machine: {e}") from None
            self._machines[model] = m
        return m

    def _discard(self, model):
        # After a Python error inside the machine its state is suspect; build a fresh one.
        self._machines.pop(model, None)

    def run_file(self, sfile, suite, limit=None, cycles=False, opfile=None):
        """Load (unless `opfile` is given) and run one suite file; returns a FileResult."""
        if opfile is None:
            opfile = sfile.load()
        model = self.model or opfile.default_model
        if model is None:
            raise ConformanceError(f"{sfile.path}: no cycle86 model for cpu "
                                   f"{opfile.cpu_id.decode('latin-1')!r}; pass --cpu")
        result = FileResult(sfile, opfile.mnemonic)
        tests = opfile.tests if limit is None else opfile.tests[:limit]
        revoked = suite.revoked if suite is not None else ()
        plan = _Plan(opfile, sfile, model)
        compare_cycles = cycles and plan.end == "step"
        plan.record = compare_cycles
        for test in tests:
            if test.hash is not None and test.hash in revoked:
                result.revoked += 1
                continue
            result.total += 1
            m = self.machine(model)
            try:
                diffs, spent = self._run_one(m, test, plan)
            except Exception as e:   # a CPU bug must cost one test, not the whole run
                self._discard(model)
                diffs = [Difference(f"exception {type(e).__name__}", None, str(e), 0)]
                spent = None
            if diffs:
                if result.first_failure is None:
                    result.first_failure = Failure(test, diffs)
            else:
                result.passed += 1
            if compare_cycles:
                hw = hardware_cycles(test)
                result.cycle_total += 1
                if spent == hw:
                    result.cycle_matched += 1
                elif result.first_cycle_mismatch is None:
                    result.first_cycle_mismatch = (test, hw, spent)
                timing = getattr(m, "bus_timing", None)
                if timing is not None:
                    result.trace_total += 1
                    if (spent is not None and timing.modelled
                            and bus_trace_matches(timing.records, test.cycles)):
                        result.trace_matched += 1
        return result

    def _run_one(self, m, test, plan):
        cpu = m.cpu
        # README §2: reset, then load every register and every listed byte.
        m.reset()
        if plan.end == "halt":
            # 286/386 tests run above 1 MB with no wrap (README §4).
            bus = getattr(m, "bus", None)
            if bus is not None and hasattr(bus, "a20"):
                bus.a20 = True
        cpu.halted = False
        initial = test.initial_regs
        if plan.real_mode_flags:
            # Bits 12-15 of the 286's initial word are random and cannot be set in real mode.
            initial = dict(initial)
            initial["flags"] &= 0x0FFF
        for name in plan.load_order:
            setattr(cpu, name, initial[name])
        write8 = m.mem.write8
        for addr, value in test.initial_ram:
            write8(addr, value)

        if plan.end == "step":
            timing = getattr(m, "bus_timing", None)
            if timing is not None:
                # The suite starts with a full prefetch queue (README §4): the bus model
                # takes it as it is and fetches on from CS:IP + len(queue).
                if test.initial_queue:
                    timing.load_queue(initial["cs"], initial["ip"], test.initial_queue)
                else:
                    timing.synced = False
                timing.record = plan.record
            spent = m.step()
        else:
            # Run to the generator's HLT.  This steps rather than calling m.run(max_cycles=...)
            # because a cycle budget cannot stop a loop of instructions that charge no cycles
            # (an unfinished timing table, e.g. `jmp $` at 0 cycles, makes run() spin for
            # ever); counting instructions as well bounds every test.  A legitimate test needs
            # two or three steps (the instruction, an interrupt delivery, the HLT): a REP
            # string instruction is one step.
            spent = 0
            step = m.step
            steps = 0
            while not cpu.halted:
                if steps >= self.max_steps or spent >= self.max_cycles:
                    ip = cpu.eip if plan.flags_name == "eflags" else cpu.ip
                    return [Difference(f"no HLT within {steps} instructions ({spent} cycles)",
                                       None, f"stopped at {cpu.cs:04x}:{ip:04x}", 0)], spent
                spent += step() or 0
                steps += 1

        diffs = []
        masks = plan.masks_for(test)
        final = test.final_regs
        for name in plan.load_order:
            expected = final.get(name, initial[name])
            actual = getattr(cpu, name)
            mask = masks.get(name)
            if mask is None:
                if actual != expected:
                    diffs.append(Difference(name, expected, actual, _width(name)))
            elif (actual ^ expected) & mask:
                diffs.append(Difference(name, expected, actual, _width(name), mask))

        byte_masks = _pushed_flag_masks(test, initial, masks.get(plan.flags_name), plan.end)
        read8 = m.mem.read8
        for addr, expected in test.final_ram:
            actual = read8(addr)
            if actual != expected:
                bm = byte_masks.get(addr) if byte_masks else None
                if bm is None or (actual ^ expected) & bm:
                    diffs.append(Difference(f"ram[0x{addr:0{plan.addr_width}x}]", expected,
                                            actual, 2))
        return diffs, spent


class _Plan:
    """What is the same for every test of one file: layout, end condition, masks."""

    def __init__(self, opfile, sfile, model):
        self.end = opfile.end
        first = opfile.tests[0].initial_regs if opfile.tests else {}
        self.flags_name = "eflags" if "eflags" in first else "flags"
        self.load_order = sorted(first, key=_LOAD_RANK.__getitem__)
        self.real_mode_flags = self.end == "halt" and self.flags_name == "flags"
        self.addr_width = 5 if MEMORY_SIZE.get(model, 16 << 20) <= 1 << 20 else 6
        self.opfile = opfile
        self.record = False
        self.reg_masks = sfile.reg_masks if sfile is not None else None
        self.base = self._masks(sfile.mask if sfile is not None else 0xFFFF)

    def _masks(self, flags_mask):
        masks = {}
        if self.flags_name == "eflags":
            # Only bits 0-17 of EFLAGS mean anything in these captures (README §4, 80386).
            masks["eflags"] = 0x30000 | flags_mask
        elif flags_mask != 0xFFFF:
            masks["flags"] = flags_mask
        for name, m in (self.opfile.file_masks or {}).items():
            masks[name] = masks.get(name, 0xFFFFFFFF) & m
        return masks

    def masks_for(self, test):
        """AND masks per register: undefined flags plus any MOO RMSK/RM32 chunk."""
        masks = self.base
        if self.reg_masks:
            # A whole-group file (8F, C6, C7) whose metadata differs by reg field.
            masks = self._masks(self.reg_masks.get(_modrm_reg(test.bytes), 0xFFFF))
        if test.final_masks:
            masks = dict(masks)
            for name, m in test.final_masks.items():
                masks[name] = masks.get(name, 0xFFFFFFFF) & m
        return masks


def _width(name):
    return 8 if name[0] == "e" or name[:2] in ("cr", "dr") else 4


def _modrm_reg(code):
    i = 0
    while i < len(code) and code[i] in _PREFIXES:
        i += 1
    if i < len(code) and code[i] == 0x0F:
        i += 1
    i += 1
    return (code[i] >> 3) & 7 if i < len(code) else None


def _pushed_flag_masks(test, initial, flags_mask, end):
    """{address: AND mask} for the FLAGS bytes an interrupt pushed, or None.

    The address comes from the final SS:SP, not from EXCP.flag_address (rounded down to even
    when SP is odd, README §4): the interrupt frame is the last thing pushed and the handler
    is a HLT (286/386) or is not executed (8086), so FLAGS sits at SS:(SP+4).  This equals
    SS:(SP-2) with the SP before the interrupt, as the README puts it.
    """
    if flags_mask is None or flags_mask & 0xFFFF == 0xFFFF:
        return None
    if test.exception is None:
        return None
    final = test.final_regs
    sp_name = "esp" if "esp" in initial else "sp"
    ss = final.get("ss", initial["ss"]) & 0xFFFF
    sp = final.get(sp_name, initial[sp_name])
    wrap = 0xFFFFF if end == "step" else 0xFFFFFF
    lo = ((ss << 4) + ((sp + 4) & 0xFFFF)) & wrap
    hi = ((ss << 4) + ((sp + 5) & 0xFFFF)) & wrap
    return {lo: flags_mask & 0xFF, hi: (flags_mask >> 8) & 0xFF}


def _inferred_interrupt(initial_ram, initial, final):
    """The interrupt an 8086/8088 test took, recognised from the IVT entry it read, or None.

    Those suites have no EXCP record.  A test that reads a whole IVT entry and finishes at
    that entry's CS:IP took the interrupt (divide error, INT n, INT3, INTO; README §4).
    """
    ivt = {a: v for a, v in initial_ram if a < 0x400}
    if len(ivt) < 4:
        return None
    cs = final.get("cs", initial["cs"])
    ip = final.get("ip", initial["ip"])
    for a in sorted(ivt):
        if a % 4 == 0 and all(a + k in ivt for k in range(1, 4)):
            if (ivt[a] | ivt[a + 1] << 8, ivt[a + 2] | ivt[a + 3] << 8) == (ip, cs):
                return Interrupt(a // 4)
    return None


# --------------------------------------------------------------------------------------------
# Command line.

def add_subparser(subparsers):
    """Register `conformance` on a `cycle86` argparse subparsers object."""
    p = subparsers.add_parser(
        "conformance", help="run the hardware-captured single-step test suites",
        description="Run SingleStepTests suites (../shared/conformance) on the cycle86 CPU.")
    _add_arguments(p)
    p.set_defaults(func=cli_main)
    return p


def _add_arguments(p):
    p.add_argument("path", metavar="PATH",
                   help="a suite directory (e.g. ../shared/conformance/8086) or one opcode file")
    p.add_argument("--cpu", metavar="MODEL",
                   help="CPU model to run (default: from the suite: 8086, 80286, ...)")
    p.add_argument("--opcode", metavar="OP", nargs="+", action="extend", default=[],
                   help="only these opcode files: 00, F6.7, F6 (whole group), A4 ...")
    p.add_argument("--limit", metavar="N", type=int,
                   help="run at most the first N tests of each file")
    p.add_argument("--cycles", action="store_true",
                   help="also compare cycle counts with the hardware traces (8086/8088)")


_CLASS_ORDER = ("documented", "alias", "undocumented", "undefined", "fpu")


def cli_main(args, out=None, runner=None):
    """Run the suite described by parsed `args`; returns the exit status (0, 1, or 2).

    `out` and `runner` exist for tests (a captured stream, a Runner over another machine).
    """
    out = sys.stdout if out is None else out
    try:
        if args.limit is not None and args.limit < 1:
            raise ConformanceError(f"--limit {args.limit}: must be at least 1")
        suite = open_suite(args.path)
        files = suite.select(args.opcode)
        if runner is None:
            runner = Runner(model=args.cpu)
        results = []
        for sfile in files:
            result = runner.run_file(sfile, suite, limit=args.limit, cycles=args.cycles)
            results.append(result)
            print(result.line(cycles=args.cycles), file=out, flush=True)
    except ConformanceError as e:
        print(f"cycle86 conformance: error: {e}", file=sys.stderr)
        return 2
    _summary(results, suite, args.cycles, out)
    failed = sum(r.failed for r in results)
    return 0 if failed == 0 else 1


def _summary(results, suite, cycles, out):
    by_class = {}
    for r in results:
        by_class.setdefault(r.cls, []).append(r)
    print("", file=out)
    order = [c for c in _CLASS_ORDER if c in by_class] + sorted(
        c for c in by_class if c not in _CLASS_ORDER)
    for cls in order:
        rs = by_class[cls]
        passed = sum(r.passed for r in rs)
        total = sum(r.total for r in rs)
        bad = sum(1 for r in rs if r.failed)
        print(f"{cls:<13} {len(rs):4d} files ({bad} failing)  {passed}/{total} tests passed",
              file=out)
    if cycles:
        compared = sum(r.cycle_total for r in results)
        if compared:
            matched = sum(r.cycle_matched for r in results)
            print(f"cycles: {matched}/{compared} tests match the hardware cycle count exactly "
                  f"({suite.name})", file=out)
            traced = sum(r.trace_total for r in results)
            if traced:
                tmatched = sum(r.trace_matched for r in results)
                print(f"bus trace: {tmatched}/{traced} tests match the hardware's per-clock bus "
                      f"trace exactly", file=out)
                _class_table(results, out)
        else:
            print("cycles: not compared (cycle comparison covers the 8086/8088 suites)",
                  file=out)
    passed = sum(r.passed for r in results)
    failed = sum(r.failed for r in results)
    print(f"{passed} passed, {failed} failed", file=out)


def _class_table(results, out):
    """Cycle and bus-trace matches per instruction class (core.biu8086.opcode_class)."""
    from core.biu8086 import opcode_class
    rows = {}
    for r in results:
        row = rows.setdefault(opcode_class(r.key), [0, 0, 0])
        row[0] += r.cycle_total
        row[1] += r.cycle_matched
        row[2] += r.trace_matched
    print(f"{'class':<14} {'tests':>6} {'cycles':>8} {'trace':>8}", file=out)
    for name in sorted(rows):
        n, c, t = rows[name]
        print(f"{name:<14} {n:6d} {100.0 * c / n:7.1f}% {100.0 * t / n:7.1f}%", file=out)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m core.conformance",
                                description="Run SingleStepTests suites on the cycle86 CPU.")
    _add_arguments(p)
    try:
        return cli_main(p.parse_args(argv))
    except BrokenPipeError:
        # Output piped into `head`: stop quietly, as other command-line tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
