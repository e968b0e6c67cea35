"""Machine snapshots: the whole machine captured as plain data, restored bit for bit, and
saved to one versioned file (docs/snapshots.md describes the format).

A snapshot holds the CPU (registers, descriptor caches, x87/MMX, MSRs, the TSC, the
events waiting at the instruction boundary, the translation caches), RAM, every device's
state (which includes the disks' copy-on-write overlays and the input delivered so far),
the A20 gate, and the clock with its pending events.  Restoring it into a machine built
from the same configuration makes that machine run on exactly as the saved one would
have: the same trace, the same cycle counts.

Pending clock events are re-armed by their devices (from the offsets in their states);
the clock then gives them back the sequence numbers they had, so that events due on the
same cycle fire in the saved order (core/clock.pyx, Clock.set_order), and checks that every
saved event came back and no other did.

Two forms:

* `capture(target, prev=None)` -> `State`, in memory: RAM as a list of 4 KiB pages shared
  with `prev` where unchanged (core/bus.pyx, Bus.ram_pages), the rest encoded to bytes.
  Reverse execution (debugger/reverse.py) keeps a series of these.
* `save(target, path)` / `load(path)` -> the file.  `restore(target, state)` puts either
  back.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import time
import zlib
from dataclasses import dataclass, field

MAGIC = b"C86SNAP\0"
VERSION = 1
PAGE = 4096
_HEADER = struct.Struct("<8sII")            # magic, version, section count
_SECTION = struct.Struct("<4sQI")           # tag, payload length, CRC-32 of the payload


class SnapshotError(Exception):
    """A snapshot that cannot be written, read or restored; the message names the file
    (when there is one) and the problem."""


# ===================================================================== plain-data codec
# Device states are dicts, lists, tuples, ints (any size), str, bytes, bool, None and
# floats.  JSON has no bytes, no tuples and no int keys, and pickle runs code when it
# loads, so snapshots use this small tagged encoding.

_INT_SMALL = struct.Struct("<q")


class Pages(list):
    """A large buffer in a device's state (video memory) as a list of 4 KiB pages, None
    for a page of zeros.  A State keeps these outside its encoded blob, as it keeps RAM,
    so a series of snapshots shares unchanged pages; a file stores them as RAM is."""


def encode(obj, pages=None):
    """`obj` (plain data) as bytes; TypeError naming the path of anything else.  Pages
    lists go into the dict `pages` (by their path), the encoding names them."""
    out = bytearray()
    _enc(obj, out, "state", pages)
    return bytes(out)


def _enc(o, out, path, pages=None):
    t = type(o)
    if t is Pages and pages is not None:
        b = path.encode("utf-8")
        out += b"P" + struct.pack("<I", len(b)) + b
        pages[path] = o
    elif o is None:
        out += b"N"
    elif o is True:
        out += b"T"
    elif o is False:
        out += b"F"
    elif t is int:
        if -(1 << 63) <= o < (1 << 63):
            out += b"i"
            out += _INT_SMALL.pack(o)
        else:
            b = o.to_bytes((o.bit_length() + 8) // 8, "little", signed=True)
            out += b"I" + struct.pack("<I", len(b)) + b
    elif t is str:
        b = o.encode("utf-8", "surrogatepass")
        out += b"s" + struct.pack("<I", len(b)) + b
    elif t is bytes:
        out += b"b" + struct.pack("<I", len(o)) + o
    elif t is bytearray:
        out += b"B" + struct.pack("<I", len(o)) + o
    elif t is float:
        out += b"f" + struct.pack("<d", o)
    elif t is list or t is tuple:
        out += (b"l" if t is list else b"t") + struct.pack("<I", len(o))
        for i, x in enumerate(o):
            _enc(x, out, "%s[%d]" % (path, i), pages)
    elif t is dict:
        out += b"d" + struct.pack("<I", len(o))
        for k, v in o.items():
            _enc(k, out, path)
            _enc(v, out, "%s[%r]" % (path, k), pages)
    elif isinstance(o, int):                  # IntEnum, bool subclasses, numpy-free ints
        _enc(int(o), out, path)
    elif isinstance(o, tuple):                # namedtuples (the CPU's Segment)
        _enc(tuple(o), out, path, pages)
    else:
        raise TypeError("%s is a %s, not plain data a snapshot can hold" % (path, t.__name__))


def decode(data, pages=None):
    """The plain data encode() made; ValueError if the bytes are not such an encoding.
    `pages`: the Pages lists encode() set aside (missing ones decode as None)."""
    obj, pos = _dec(memoryview(data), 0, pages or {})
    if pos != len(data):
        raise ValueError("%d bytes left over after the state" % (len(data) - pos))
    return obj


def _dec(m, pos, pages):
    tag = m[pos:pos + 1].tobytes()
    pos += 1
    if tag == b"P":
        n = struct.unpack_from("<I", m, pos)[0]
        key = m[pos + 4:pos + 4 + n].tobytes().decode("utf-8")
        if key not in pages:
            raise ValueError("the pages of %s are missing" % key)
        return Pages(pages[key]), pos + 4 + n
    if tag == b"N":
        return None, pos
    if tag == b"T":
        return True, pos
    if tag == b"F":
        return False, pos
    if tag == b"i":
        return _INT_SMALL.unpack_from(m, pos)[0], pos + 8
    if tag == b"f":
        return struct.unpack_from("<d", m, pos)[0], pos + 8
    if tag in (b"I", b"s", b"b", b"B"):
        n = struct.unpack_from("<I", m, pos)[0]
        pos += 4
        if pos + n > len(m):
            raise ValueError("a value runs past the end of the state")
        raw = m[pos:pos + n].tobytes()
        pos += n
        if tag == b"I":
            return int.from_bytes(raw, "little", signed=True), pos
        if tag == b"s":
            return raw.decode("utf-8", "surrogatepass"), pos
        return (raw if tag == b"b" else bytearray(raw)), pos
    if tag in (b"l", b"t"):
        n = struct.unpack_from("<I", m, pos)[0]
        pos += 4
        items = []
        for _ in range(n):
            x, pos = _dec(m, pos, pages)
            items.append(x)
        return (items if tag == b"l" else tuple(items)), pos
    if tag == b"d":
        n = struct.unpack_from("<I", m, pos)[0]
        pos += 4
        d = {}
        for _ in range(n):
            k, pos = _dec(m, pos, pages)
            v, pos = _dec(m, pos, pages)
            d[k] = v
        return d, pos
    raise ValueError("unknown tag %r at offset %d" % (tag, pos - 1))


# ===================================================================== the machine's parts

def _parts(target):
    """(pc or None, machine)."""
    if hasattr(target, "machine") and hasattr(target, "chips"):
        return target, target.machine
    return None, target


def devices(target):
    """The devices of a PC or Machine by name, in the order their states are restored
    (the interrupt controller last: the devices before it drive their IRQ lines as they
    are restored, and its own state then says what it latched)."""
    pc, m = _parts(target)
    if pc is not None:
        named = [(n, c) for n, c in pc.chips.items() if hasattr(c, "get_state")]
    else:
        named, seen = [], {}
        for d in m.devices:
            base = getattr(d, "name", None) or type(d).__name__.lower()
            seen[base] = seen.get(base, 0) + 1
            named.append((base if seen[base] == 1 else "%s%d" % (base, seen[base]), d))
    pic = m.pic
    return [x for x in named if x[1] is not pic] + [x for x in named if x[1] is pic]


def _owner_paths(named):
    """id(object) -> a stable name ("ata.channels[1].drives[0]") for the devices and the
    objects they are made of, which is where clock events' callbacks are bound."""
    paths = {}
    frontier = [(name, obj) for name, obj in named]
    for depth in range(4):
        nxt = []
        for path, obj in frontier:
            if id(obj) in paths:
                continue
            paths[id(obj)] = path
            if depth == 3:
                continue
            for attr, v in sorted(getattr(obj, "__dict__", {}).items()):
                if attr in ("machine", "clock", "bus", "cpu"):
                    continue
                if isinstance(v, (list, tuple)):
                    for i, x in enumerate(v):
                        if _is_part(x):
                            nxt.append(("%s.%s[%d]" % (path, attr, i), x))
                elif isinstance(v, dict):
                    for k, x in v.items():
                        if _is_part(x) and isinstance(k, (str, int)):
                            nxt.append(("%s.%s[%r]" % (path, attr, k), x))
                elif _is_part(v):
                    nxt.append(("%s.%s" % (path, attr), v))
        frontier = nxt
    return paths


def _is_part(x):
    mod = getattr(type(x), "__module__", "") or ""
    return mod.startswith("peripherals.") and hasattr(x, "__dict__")


def _event_key(event, paths):
    cb = event.callback
    owner = getattr(cb, "__self__", None)
    func = getattr(cb, "__func__", None)
    if owner is not None and func is not None:
        return "%s.%s" % (paths.get(id(owner), type(owner).__name__), func.__name__)
    return event.name


# ===================================================================== capture / restore

@dataclass
class State:
    """One captured machine: `pages` the RAM (Bus.ram_pages), `blob` everything else
    (encode()d), and a few figures kept outside it for listing and searching."""
    blob: bytes
    pages: list
    cycle: int
    icount: int
    meta: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)       # the devices' Pages, by path

    def size(self, counted=None):
        """Bytes this state holds; pages already in `counted` (a set of ids) are not
        counted again, and are added to it."""
        n = len(self.blob)
        for pages in [self.pages] + list(self.extra.values()):
            for p in pages:
                if p is not None and (counted is None or id(p) not in counted):
                    n += PAGE
                    if counted is not None:
                        counted.add(id(p))
        return n

    def decoded(self):
        return decode(self.blob, self.extra)


def _check_disks(pc, what):
    if pc is None:
        return
    for slot, image in pc.media.items():
        if getattr(image, "commit", False):
            raise SnapshotError("%s: the disk %s (%s) is written through (--commit), so a "
                                "snapshot cannot hold or restore its contents; run without "
                                "--commit" % (what, slot, image.path))


def machine_identity(target):
    """What a state must agree on with the machine it is restored into."""
    pc, m = _parts(target)
    ident = {"model": m.model.name, "memory": m.bus.ram_size,
             "fpu": m.cpu.coprocessor, "frequency": m.clock.frequency,
             "devices": [n for n, _ in devices(target)]}
    if pc is not None:
        ident["machine"] = pc.config.machine
        ident["bios"] = _file_digest(pc.bios_path)
        ident["vgabios"] = _file_digest(pc.vgabios_path)
    return ident


_DIGESTS = {}


def _file_digest(path):
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        with open(path, "rb") as f:
            _DIGESTS[key] = hashlib.sha256(f.read()).hexdigest()
    return _DIGESTS[key]


def capture(target, prev=None, meta=None):
    """The machine now, as a State; `prev` an earlier State whose unchanged RAM pages
    are shared.  Call it between instructions (the machine stopped, not mid-slice)."""
    pc, m = _parts(target)
    _check_disks(pc, "snapshot")
    clock, cpu, bus = m.clock, m.cpu, m.bus
    named = devices(target)
    dev_states = {}
    for name, dev in named:
        dev_states[name] = dev.get_state()
    paths = _owner_paths(named)
    events = [(_event_key(ev, paths), ev.deadline - clock.now, ev.priority, ev.seq)
              for ev in clock.pending()]
    state = {
        "identity": machine_identity(target),
        "clock": {"now": clock.now, "next_seq": clock.next_seq, "events": events},
        "cpu": cpu.get_state(),
        "bus": {"a20": bool(bus.a20), "map": bus.map_signature()},
        "machine": {"resets": m.resets, "reset_requested": m._reset_requested,
                    "hard_reset": m._hard_reset,
                    # An 8086/8088's prefetch queue and bus cycle carry over from one
                    # instruction to the next (core/biu.pyx).
                    "bus_timing": (m.bus_timing.get_state()
                                   if getattr(m, "bus_timing", None) is not None else None)},
        "devices": dev_states,
    }
    if pc is not None:
        from dataclasses import asdict
        state["config"] = asdict(pc.config)
    extra = {}
    try:
        blob = encode(state, extra)
    except TypeError as e:
        raise SnapshotError("snapshot: %s" % e) from None
    return State(blob, bus.ram_pages(prev.pages if prev is not None else None),
                 clock.now, cpu.icount, dict(meta or {}), extra)


def restore(target, state, what="snapshot"):
    """Put a State back into `target`, a machine built from the same configuration.
    SnapshotError (prefixed with `what`, a file name or snapshot name) if it does not fit."""
    pc, m = _parts(target)
    _check_disks(pc, what)
    try:
        data = state.decoded()
    except (ValueError, struct.error, UnicodeDecodeError) as e:
        raise SnapshotError("%s: corrupted machine state (%s)" % (what, e)) from None
    ident = machine_identity(target)
    saved = data["identity"]
    for key in ("model", "memory", "fpu", "frequency", "machine", "devices", "bios",
                "vgabios"):
        if saved.get(key) != ident.get(key):
            raise SnapshotError("%s: made on another machine: its %s is %r, this machine's %r"
                                % (what, key, saved.get(key), ident.get(key)))
    clock, cpu, bus = m.clock, m.cpu, m.bus
    c = data["clock"]
    clock.now = c["now"]
    cpu.set_state(data["cpu"])
    # RAM before the devices: the chipset's shadow-RAM copies are taken from it.
    bus.set_ram_pages(state.pages)
    named = devices(target)
    for name, dev in named:
        try:
            dev.set_state(data["devices"][name])
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise SnapshotError("%s: the state of %s does not fit this machine (%s: %s)"
                                % (what, name, type(e).__name__, e)) from None
    if bool(bus.a20) != data["bus"]["a20"]:
        bus.a20 = data["bus"]["a20"]
    if bus.map_signature() != data["bus"]["map"]:
        raise SnapshotError("%s: the restored devices map memory differently than the saved "
                            "machine did (shadow RAM or ROM pages)" % what)
    mf = data["machine"]
    m.resets = mf["resets"]
    m._reset_requested = mf["reset_requested"]
    m._hard_reset = mf["hard_reset"]
    timing = getattr(m, "bus_timing", None)
    if timing is not None:
        if mf.get("bus_timing") is not None:
            timing.set_state(mf["bus_timing"])
        else:
            # Saved without the bus model (table timing): start from a full queue.
            timing.synced = False
    cpu.intr = data["cpu"].get("intr", cpu.intr)
    # The devices remapped pages as they were restored, which drops the CPU's host
    # pointers: put them back now that the page map is the saved one.
    cpu._set_host_tlb_state(data["cpu"]["htlb"])
    cpu.memory_changed()            # RAM was written behind the CPU's back
    cpu.stop_requested = bool(m._reset_requested)
    _restore_event_order(clock, named, c, what)


def _restore_event_order(clock, named, saved, what):
    paths = _owner_paths(named)
    want = {}
    for key, offset, priority, seq in saved["events"]:
        want.setdefault(key, []).append((offset, priority, seq))
    pairs = []
    for ev in clock.pending():
        key = _event_key(ev, paths)
        options = want.get(key)
        if not options:
            raise SnapshotError("%s: after the restore %s has an event at cycle %d that the "
                                "saved machine did not have" % (what, key, ev.deadline))
        offset, priority, seq = options.pop(0)
        if ev.deadline - clock.now != offset or ev.priority != priority:
            raise SnapshotError("%s: %s re-armed its event %d cycles from now; it was saved "
                                "%d cycles from now" % (what, key, ev.deadline - clock.now,
                                                        offset))
        pairs.append((ev, seq))
    missing = [k for k, v in want.items() if v]
    if missing:
        raise SnapshotError("%s: the restored devices did not re-arm the saved events of %s"
                            % (what, ", ".join(missing)))
    clock.set_order(pairs, saved["next_seq"])


# ===================================================================== the file

def save(target, path, description="", state=None):
    """Write the machine (or `state`, a State captured from it) to `path`.  Returns the
    file's size in bytes."""
    if state is None:
        state = capture(target)
    pc, m = _parts(target)
    meta = {
        "format": "cycle86-snapshot", "version": VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "description": description or state.meta.get("description", ""),
        "cycle": state.cycle, "icount": state.icount,
        "model": m.model.name, "memory": m.bus.ram_size,
        "pages": len(state.pages),
    }
    sections = [(b"META", json.dumps(meta, indent=1).encode()),
                (b"STAT", zlib.compress(state.blob, 6)),
                (b"RAM ", _encode_ram(state.pages))]
    for key, pages in sorted(state.extra.items()):
        name = key.encode("utf-8")
        sections.append((b"PAGE", struct.pack("<I", len(name)) + name + _encode_ram(pages)))
    out = io.BytesIO()
    out.write(_HEADER.pack(MAGIC, VERSION, len(sections)))
    for tag, payload in sections:
        out.write(_SECTION.pack(tag, len(payload), zlib.crc32(payload)))
        out.write(payload)
    data = out.getvalue()
    tmp = "%s.tmp%d" % (path, os.getpid())
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise SnapshotError("%s: cannot write the snapshot (%s)" % (path, e.strerror or e)) \
            from None
    return len(data)


def _encode_ram(pages):
    """The RAM section: zlib of a page count (u32) and one record per page: 0 a page of
    zeros; 1 and 4096 bytes; 2 and the u32 number of an earlier page with equal bytes."""
    z = zlib.compressobj(1)
    parts = [z.compress(struct.pack("<I", len(pages)))]
    first = {}
    for i, p in enumerate(pages):
        if p is None:
            parts.append(z.compress(b"\0"))
            continue
        j = first.setdefault(p, i)
        if j != i:
            parts.append(z.compress(b"\2" + struct.pack("<I", j)))
        else:
            parts.append(z.compress(b"\1" + p))
    parts.append(z.flush())
    return b"".join(parts)


def _decode_ram(payload, path):
    try:
        raw = zlib.decompress(payload)
    except zlib.error as e:
        raise SnapshotError("%s: corrupted RAM section (%s)" % (path, e)) from None
    if len(raw) < 4:
        raise SnapshotError("%s: corrupted RAM section (no page count)" % path)
    n = struct.unpack_from("<I", raw)[0]
    pages, pos = [], 4
    try:
        for i in range(n):
            kind = raw[pos]
            pos += 1
            if kind == 0:
                pages.append(None)
            elif kind == 1:
                if pos + PAGE > len(raw):
                    raise IndexError
                pages.append(raw[pos:pos + PAGE])
                pos += PAGE
            elif kind == 2:
                j = struct.unpack_from("<I", raw, pos)[0]
                pos += 4
                if j >= i:
                    raise SnapshotError("%s: corrupted RAM section (page %d copies page %d)"
                                        % (path, i, j))
                pages.append(pages[j])
            else:
                raise SnapshotError("%s: corrupted RAM section (page %d has record kind %d)"
                                    % (path, i, kind))
    except (IndexError, struct.error):
        raise SnapshotError("%s: corrupted RAM section (it ends inside page %d of %d)"
                            % (path, len(pages), n)) from None
    if pos != len(raw):
        raise SnapshotError("%s: corrupted RAM section (%d bytes after the last page)"
                            % (path, len(raw) - pos))
    return pages


def read_sections(path):
    """{tag: payload} of a snapshot file, its header and checksums checked."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise SnapshotError("%s: no such snapshot file" % path) from None
    except IsADirectoryError:
        raise SnapshotError("%s: is a directory, not a snapshot file" % path) from None
    except OSError as e:
        raise SnapshotError("%s: cannot read the snapshot (%s)" % (path, e.strerror or e)) \
            from None
    if len(data) < _HEADER.size:
        if MAGIC.startswith(data[:8]) and data:
            raise SnapshotError("%s: truncated: %d bytes, shorter than the header"
                                % (path, len(data)))
        raise SnapshotError("%s: not a cycle86 snapshot (%s)"
                            % (path, "empty file" if not data else "too short"))
    magic, version, count = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise SnapshotError("%s: not a cycle86 snapshot (no C86SNAP signature)" % path)
    if version != VERSION:
        raise SnapshotError("%s: snapshot format version %d; this cycle86 reads version %d "
                            "only" % (path, version, VERSION))
    pos, sections = _HEADER.size, {}
    for k in range(count):
        if pos + _SECTION.size > len(data):
            raise SnapshotError("%s: truncated: the file ends before section %d of %d"
                                % (path, k + 1, count))
        tag, length, crc = _SECTION.unpack_from(data, pos)
        pos += _SECTION.size
        name = tag.decode("latin-1").strip()
        if pos + length > len(data):
            raise SnapshotError("%s: truncated: section %s needs %d bytes, %d are left"
                                % (path, name, length, len(data) - pos))
        payload = data[pos:pos + length]
        pos += length
        if zlib.crc32(payload) != crc:
            raise SnapshotError("%s: corrupted: the checksum of section %s does not match"
                                % (path, name))
        if name == "PAGE":
            sections.setdefault("PAGE", []).append(payload)
        else:
            sections[name] = payload
    if pos != len(data):
        raise SnapshotError("%s: corrupted: %d bytes after the last section"
                            % (path, len(data) - pos))
    for name in ("META", "STAT", "RAM"):
        if name not in sections:
            raise SnapshotError("%s: corrupted: no %s section" % (path, name))
    return sections


def read_meta(path):
    """The META section (a dict: cycle, icount, model, memory, created, description)."""
    sections = read_sections(path)
    try:
        return json.loads(sections["META"])
    except ValueError as e:
        raise SnapshotError("%s: corrupted META section (%s)" % (path, e)) from None


def load(path):
    """The State saved in `path`."""
    sections = read_sections(path)
    try:
        meta = json.loads(sections["META"])
    except ValueError as e:
        raise SnapshotError("%s: corrupted META section (%s)" % (path, e)) from None
    try:
        blob = zlib.decompress(sections["STAT"])
    except zlib.error as e:
        raise SnapshotError("%s: corrupted STAT section (%s)" % (path, e)) from None
    pages = _decode_ram(sections["RAM"], path)
    extra = {}
    for payload in sections.get("PAGE", []):
        try:
            n = struct.unpack_from("<I", payload)[0]
            key = payload[4:4 + n].decode("utf-8")
        except (struct.error, UnicodeDecodeError):
            raise SnapshotError("%s: corrupted PAGE section (its name)" % path) from None
        extra[key] = _decode_ram(payload[4 + n:], path)
    return State(blob, pages, meta.get("cycle", 0), meta.get("icount", 0), meta, extra)


def config_of(state, what="snapshot"):
    """The PCConfig fields a State's machine was built with (None for a bare Machine)."""
    try:
        data = state.decoded()
    except (ValueError, struct.error, UnicodeDecodeError) as e:
        raise SnapshotError("%s: corrupted machine state (%s)" % (what, e)) from None
    return data.get("config")


def pc_settings(state, what="snapshot"):
    """The PCConfig fields of a State's PC, for building it again to restore it into:
    without its scripted and replayed input, which already reached the saved devices'
    state.  SnapshotError (prefixed with `what`) for a bare Machine's."""
    settings = config_of(state, what)
    if settings is None:
        raise SnapshotError("%s: the snapshot is of a bare machine, not a PC" % what)
    settings = dict(settings)
    settings.update(keys_text=None, keys_file=None, keys_at=None, replay_input=None)
    return settings
