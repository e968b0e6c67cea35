"""Malformed files fed to the commands that read them, as a user would run them.

Each case writes one kind of file into its folder, mostly well-formed and then broken
in a random way (fields set to edge values, bytes flipped, the file cut short or grown),
and runs the `cycle86` command line in-process with CYCLE86_TRACEBACK=1, so that an
exception escapes instead of becoming the CLI's "internal error" line:

    disk     hard disk and floppy images (sizes, MBR, boot sectors), overlay journals
    iso      ISO 9660 images with an El Torito boot catalog, booted from the CD
    toml     machine files (core/pc.load_machine_file)
    trace    .c86t trace files: trace show / stats / export / diff
    input    input logs (--replay-input) and keys scripts (--keys-file)
    kernel   bzImage and Multiboot kernels (--kernel)

The verdict: exit 0 (or a guest's own exit status) is fine; a refusal (status 2) is a
clean user error when its message names the file, an offset or an option, and a
BAD_MESSAGE when it does not; an escaped exception is a bug.  The disk images and ISOs
must be byte for byte unchanged afterwards: no case asks for --commit.
"""
import contextlib
import hashlib
import io
import json
import os
import random
import re
import struct

from tests.fuzz import BAD_MESSAGE, DATA_LOSS, GUEST_FAULT, OK, USER_ERROR

KINDS = ("disk", "iso", "toml", "trace", "input", "kernel")
RUN_CYCLES = 30_000_000


class _Null(io.TextIOBase):
    def write(self, s):
        return len(s)


def cli(argv):
    """Run `cycle86 ARGV` in this process: (status, stderr text).  Exceptions escape."""
    from core import cli as c
    err = io.StringIO()
    old = os.environ.get("CYCLE86_TRACEBACK")
    os.environ["CYCLE86_TRACEBACK"] = "1"
    try:
        with contextlib.redirect_stdout(_Null()), contextlib.redirect_stderr(err):
            status = c.main([str(a) for a in argv])
    finally:
        if old is None:
            os.environ.pop("CYCLE86_TRACEBACK", None)
        else:
            os.environ["CYCLE86_TRACEBACK"] = old
    return status, err.getvalue()


def verdict(status, err, names):
    """The outcome of a finished command: `names` are the strings a refusal should
    mention (the file's path or name, an option)."""
    if status == 0:
        return OK
    if status == 2:
        from core.pc import PCConfig
        # "cycle86 run: memory: ...", "cycle86 run: rtc start '...': ..."
        options = [": %s: " % k for k in PCConfig.keys()] + \
            [": %s " % k.replace("_", " ") for k in PCConfig.keys() if "_" in k]
        if any(n and n in err for n in names + options) or "offset" in err:
            return USER_ERROR
        if re.search(r"^cycle86 [a-z]+: /[^\n]*?: ", err):     # a file by its whole path
            return USER_ERROR
        return BAD_MESSAGE
    return GUEST_FAULT              # a triple fault, the cycle limit, a guest's exit code


def mutate(rng, data, n=None, keep_size=False):
    """Flip, set and splice bytes; sometimes cut the data short or grow it (not with
    `keep_size`: an ISO whose size is not whole sectors is refused before it is read)."""
    b = bytearray(data)
    for _ in range(n if n is not None else rng.choice((0, 1, 2, 8, 64))):
        if not b:
            break
        i = rng.randrange(len(b))
        r = rng.random()
        if r < 0.4:
            b[i] ^= 1 << rng.randrange(8)
        elif r < 0.7:
            b[i] = rng.choice((0, 0xFF, 0x7F, 0x80, rng.randrange(256)))
        elif r < 0.9:
            w = rng.choice((0, 0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, rng.getrandbits(32)))
            b[i:i + 4] = w.to_bytes(4, "little")
        elif not keep_size:
            j = rng.randrange(len(b))
            b[i:i] = b[j:j + rng.randrange(1, 64)]
    if keep_size:
        return bytes(b[:len(data)])
    r = rng.random()
    if r < 0.08 and b:
        del b[rng.randrange(len(b)):]
    elif r < 0.12:
        b += rng.randbytes(rng.randrange(1, 4096))
    return bytes(b)


def sha(path):
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return None


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return path


# ---------------------------------------------------------------- disk images

def boot_sector(rng):
    s = bytearray(rng.randbytes(512) if rng.random() < 0.5 else bytes(512))
    s[0:4] = rng.choice((b"\xFA\xF4\xEB\xFD", b"\xEB\xFE\x90\x90", rng.randbytes(4)))
    for i in range(4):                          # partition table entries
        if rng.random() < 0.5:
            e = bytearray(rng.randbytes(16))
            e[0] = rng.choice((0x80, 0, 0x7F))
            s[446 + 16 * i:462 + 16 * i] = e
    if rng.random() < 0.9:
        s[510:512] = b"\x55\xAA"
    return bytes(s)


def case_disk(rng, d):
    slot = rng.choice(("hda", "hda", "fda", "hdb"))
    if slot == "fda":
        size = rng.choice((368640, 737280, 1228800, 1474560, 2949120, 1474560 + 512, 512,
                           163840))
    else:
        size = rng.choice((512, 1024, 512 * 63, 512 * 1008 * 16, 513, 511, 0,
                           512 * rng.randrange(1, 4096)))
    path = os.path.join(d, "disk.img")
    with open(path, "wb") as f:
        if size:
            f.write(boot_sector(rng)[:size])
            if size > 512:
                f.write(rng.randbytes(min(size - 512, 65536)))
                f.truncate(size)                  # the rest sparse
    argv = ["run", "--machine", rng.choice(("pc", "isapc")), "--" + slot, path,
            "--boot", "floppy" if slot == "fda" else "disk", "--max-cycles", RUN_CYCLES]
    names = [path, "--" + slot]
    if rng.random() < 0.3:
        # A named machine's overlay journal, malformed (peripherals/diskimage.py format).
        ovl = os.path.join(d, "overlays")
        os.makedirs(ovl, exist_ok=True)
        ss = 512
        journal = b"C86OVL1\0" + struct.pack("<IQ", ss, size)
        for _ in range(rng.randrange(4)):
            journal += struct.pack("<Q", rng.choice((0, 1, size // ss, 2 ** 63))) \
                + rng.randbytes(ss)
        jpath = write(os.path.join(ovl, slot + ".overlay"), mutate(rng, journal, 2))
        toml = os.path.join(d, "m.toml")
        write(toml, ('%s = "%s"\noverlays = "%s"\nmachine = "pc"\nboot = "%s"\n'
                     % (slot, path, ovl, "floppy" if slot == "fda" else "disk")).encode())
        argv = ["run", toml, "--max-cycles", RUN_CYCLES]
        names += [jpath, toml]
    return argv, names, [path]


# ---------------------------------------------------------------- ISO 9660 / El Torito

def _both16(v):
    return struct.pack("<H", v & 0xFFFF) + struct.pack(">H", v & 0xFFFF)


def _both32(v):
    return struct.pack("<I", v & 0xFFFFFFFF) + struct.pack(">I", v & 0xFFFFFFFF)


def iso_image(rng):
    """An ISO 9660 image with an El Torito boot record and catalog [El Torito spec 1.0,
    ECMA-119], its fields random where the spec allows a choice, the boot image random
    code that ends in a HLT loop."""
    sectors = rng.choice((24, 40, 200, 1500))
    img = bytearray(sectors * 2048)
    pvd = bytearray(2048)
    pvd[0:7] = b"\x01CD001\x01"
    pvd[80:88] = _both32(sectors)
    pvd[120:124] = _both16(1)
    pvd[124:128] = _both16(1)
    pvd[128:132] = _both16(2048)
    img[16 * 2048:17 * 2048] = pvd
    br = bytearray(2048)
    br[0:7] = b"\x00CD001\x01"
    br[7:7 + 23] = b"EL TORITO SPECIFICATION"
    catalog = rng.choice((19, 19, 19, sectors - 1, sectors + 5, 0xFFFFFFFF))
    br[0x47:0x4B] = struct.pack("<I", catalog)
    img[17 * 2048:18 * 2048] = br
    img[18 * 2048:18 * 2048 + 7] = b"\xFFCD001\x01"
    val = bytearray(32)
    val[0] = 1
    val[1] = rng.choice((0, 0, 1, 2, 0xEF))       # 80x86, PowerPC, Mac, EFI
    val[4:28] = rng.randbytes(24) if rng.random() < 0.3 else b"cycle86 fuzz".ljust(24, b"\0")
    val[30:32] = b"\x55\xAA"
    words = sum(struct.unpack("<16H", bytes(val)))
    val[28:30] = struct.pack("<H", (-words) & 0xFFFF)
    if rng.random() < 0.1:
        val[28] ^= 1                                  # a bad checksum
    entry = bytearray(32)
    entry[0] = rng.choice((0x88, 0x88, 0x00, 0x44))
    media = rng.choice((0, 0, 1, 2, 3, 4, 7))       # none, 1.2M, 1.44M, 2.88M, HD
    entry[1] = media
    entry[2:4] = struct.pack("<H", rng.choice((0, 0, 0x7C0, 0x1000, 0xFFFF, 0x9FC0, 0xA000)))
    entry[4] = rng.randrange(256)
    entry[6:8] = struct.pack("<H", rng.choice((1, 4, 4, 0, 0xFFFF, 2880, rng.randrange(1 << 16))))
    load = rng.choice((20, 20, 20, sectors - 1, sectors, 0xFFFFFFFF, 0))
    entry[8:12] = struct.pack("<I", load)
    if catalog < sectors:
        img[catalog * 2048:catalog * 2048 + 64] = val + entry
        if rng.random() < 0.3:     # section headers and entries after the default one
            img[catalog * 2048 + 64:catalog * 2048 + 2048] = rng.randbytes(2048 - 64)
    boot = bytearray(rng.randbytes(2048) if rng.random() < 0.5 else bytes(2048))
    boot[0:8] = rng.choice((b"\xFA\xF4\xEB\xFD\x90\x90\x90\x90", rng.randbytes(8)))
    if sectors > 21:
        img[20 * 2048:21 * 2048] = boot
        if media == 4 and rng.random() < 0.8:
            img[20 * 2048:20 * 2048 + 512] = boot_sector(rng)
    return bytes(img)


def case_iso(rng, d):
    data = iso_image(rng)
    if rng.random() < 0.5:
        # Mutate the volume descriptors, catalog and boot image only: the rest is zeros.
        head = mutate(rng, data[16 * 2048:22 * 2048], rng.choice((1, 4, 16)), keep_size=True)
        data = data[:16 * 2048] + head + data[22 * 2048:]
    path = write(os.path.join(d, "cd.iso"), data)
    argv = ["run", "--machine", rng.choice(("pc", "pc", "isapc")), "--cdrom", path,
            "--boot", "cdrom", "--max-cycles", RUN_CYCLES * 2]
    return argv, [path, "--cdrom"], [path]


# ---------------------------------------------------------------- TOML machine files

TOML_VALUES = ('"pc"', '"isapc"', '"bogus"', "1", "-1", "0", "1e400", "true", "[]", "{}",
               '"32M"', '"0M"', '"4096G"', '"/nonexistent/x.img"', '""', "[1, 2]",
               '"file:/nonexistent/dir/out"', '"stdio"', '"tcp:127.0.0.1:0"',
               "99999999999999999999", '"80386"', '"8086"', '"287"', '"none"', "3.5",
               "1979-05-27T07:32:00Z", '"\\u0000"', '"disk"', '"cdrom"')


def case_toml(rng, d):
    from core.pc import PCConfig
    keys = [k for k in PCConfig.keys() if k not in ("bios_only", "realtime", "serial",
                                                    "screen")]
    lines = []
    if rng.random() < 0.3:
        lines.append("[machine]")
    for _ in range(rng.randrange(1, 8)):
        key = rng.choice(keys + ["type", "bogus_key", "max-cycles", "fda"])
        if key in ("serial",):
            continue
        value = rng.choice(TOML_VALUES)
        if key in ("fda", "hda", "cdrom") and rng.random() < 0.5:
            img = os.path.join(d, key + ".img")
            write(img, bytes(512 * rng.choice((1, 2880, 4))))
            value = '"%s"' % os.path.basename(img)
        lines.append("%s = %s" % (key, value))
    text = "\n".join(lines) + "\n"
    if rng.random() < 0.3:
        text = mutate(rng, text.encode(), rng.choice((1, 3))).decode("latin-1")
    path = write(os.path.join(d, "m.toml"), text.encode("utf-8", "surrogateescape"))
    argv = ["run", path, "--max-cycles", 2_000_000]
    if rng.random() < 0.3:
        # The same file as a named machine (core/machines.py): CYCLE86_MACHINES is the
        # case's folder while the command runs (see run()).
        sub = rng.choice(("list", "show", "edit"))
        argv = ["machine", sub] + ([] if sub == "list" else ["m"])
        if sub == "edit":
            argv += ["--memory", rng.choice(("2M", "1G"))]
    images = [os.path.join(d, k + ".img") for k in ("fda", "hda", "cdrom")
              if os.path.exists(os.path.join(d, k + ".img"))]
    return argv, [path, "m.toml"] + images, images


# ---------------------------------------------------------------- trace files

def trace_bytes(rng):
    from debugger import trace as T
    header = T.make_header(cpu=rng.choice(("80386", "8086", "pentium2")), frequency=33_000_000,
                           description="fuzz", created="2026-01-01T00:00:00Z")
    raw = bytearray(T.encode_key(0, 0, [rng.getrandbits(32) for _ in range(T.NUM_REGS)],
                                 0x7C00))
    raw += T.encode_ctx(rng.randrange(3) | rng.choice((0, 4, 8)), 0, 0)
    raw += T.encode_insn(1, 0x7C00, b"\x90")
    for _ in range(rng.randrange(1, 200)):
        r = rng.random()
        if r < 0.4:
            raw += T.encode_insn(rng.randrange(100), rng.getrandbits(32),
                                 rng.randbytes(rng.randrange(1, 16)))
        elif r < 0.55:
            raw += T.encode_reg(rng.randrange(T.NUM_REGS), rng.getrandbits(32))
        elif r < 0.65:
            raw += T.encode_memw(rng.choice((1, 2, 4)), rng.getrandbits(32), rng.getrandbits(32),
                                 rng.getrandbits(32))
        elif r < 0.75:
            raw += T.encode_io(rng.randrange(65536), rng.choice((1, 2, 4)), rng.random() < 0.5,
                               rng.getrandbits(32))
        elif r < 0.85:
            raw += T.encode_int(rng.randrange(256), rng.randrange(4),
                                rng.choice((-1, 0, rng.getrandbits(31))))
        elif r < 0.9:
            raw += T.encode_ctx(rng.randrange(3) | rng.choice((0, 4, 8)),
                                rng.randrange(65536), rng.getrandbits(32))
        elif r < 0.93:
            raw += T.encode_phys(rng.getrandbits(32))
        elif r < 0.96:
            raw += T.encode_key(rng.getrandbits(40), rng.getrandbits(30),
                                [rng.getrandbits(32) for _ in range(T.NUM_REGS)],
                                rng.getrandbits(32))
        else:
            raw += T.encode_shutdown()
    if rng.random() < 0.2:
        h = dict(header)
        h[rng.choice(list(h) + ["x"])] = rng.choice((None, -1, "x", [], {}, 1e308, 2 ** 70))
        header = h
    return T.encode_file_header(header, 1) + bytes(raw)       # encode_* build version 1


def case_trace(rng, d):
    a = write(os.path.join(d, "a.c86t"), mutate(rng, trace_bytes(rng)))
    sub = rng.choice(("show", "show", "stats", "export", "diff"))
    if sub == "show":
        argv = ["trace", "show", a, "--limit", 500]
        if rng.random() < 0.3:
            argv += ["--filter", rng.choice(("io", "int", "eax=0", "port=0x60", "mem", "eip=0x7c00"))]
        if rng.random() < 0.2:
            argv += ["--format", "jsonl"]
    elif sub == "stats":
        argv = ["trace", "stats", a] + (["--format", "json"] if rng.random() < 0.5 else [])
    elif sub == "export":
        argv = ["trace", "export", a, "-o", os.path.join(d, "out.txt"),
                "--format", rng.choice(("text", "jsonl"))]
    else:
        b = write(os.path.join(d, "b.c86t"), mutate(rng, trace_bytes(rng)))
        argv = ["trace", "diff", a, b]
    return argv, [a, os.path.basename(a), "b.c86t", "--filter"], []


# ---------------------------------------------------------------- input logs, keys

def _junk(rng):
    return rng.choice((None, -1, 0, 2 ** 70, "x", "", [], {}, [1], ["key"], {"key": 1}, 1.5,
                       True, ["key", "a", True], ["mouse", 1, 2, 3, 4], ["key", None, 1],
                       ["mouse", "x"]))


def input_log(rng):
    kb = []
    cycle = 0
    for _ in range(rng.randrange(20)):
        cycle += rng.randrange(1 << 22)
        ev = rng.choice((["key", rng.choice(("a", "enter", "lshift", "f1", "zz")),
                          rng.random() < 0.5],
                         ["mouse", rng.randrange(-300, 300), rng.randrange(-300, 300),
                          rng.randrange(8), rng.randrange(-2, 3)]))
        kb.append([cycle, ev])
    serial = None
    if rng.random() < 0.5:
        serial = {"polled": rng.random() < 0.5, "poll_hz": rng.choice((None, 100, 0)),
                  "poll_end": rng.choice((None, 0, 10 ** 9)),
                  "input": [[rng.randrange(1 << 30), rng.randbytes(rng.randrange(8)).hex()]
                            for _ in range(rng.randrange(5))]}
    log = {"format": "cycle86-input", "version": 1, "keyboard": kb, "serial": serial}
    # Structural damage: a field of the wrong type, an entry of the wrong shape.
    for _ in range(rng.choice((0, 1, 1, 2))):
        r = rng.random()
        if r < 0.3 and kb:
            kb[rng.randrange(len(kb))][rng.randrange(2)] = _junk(rng)
        elif r < 0.5 and kb:
            kb[rng.randrange(len(kb))] = _junk(rng)
        elif r < 0.7:
            log[rng.choice(("keyboard", "serial", "version", "format"))] = _junk(rng)
        elif serial is not None:
            serial[rng.choice(("polled", "poll_hz", "poll_end", "input"))] = _junk(rng)
    return json.dumps(log).encode()


KEYS_LINES = ("wait 1ms", "wait 0", "wait 1e9", "wait -1", "wait 1.5s", "type hello\\n",
              "type \\x", "key ctrl-alt-delete", "key f1", "key nosuchkey", "press lshift",
              "release lshift", "release nothing", "key ", "type", "bogus line", "# comment",
              "key ctrl-", "wait 99999999999999999999s", "type \\\\\\n", "press", "wait ms")


def case_input(rng, d):
    if rng.random() < 0.6:
        data = input_log(rng)
        if rng.random() < 0.2:
            data = mutate(rng, data, 2)
        path = write(os.path.join(d, "input.json"), data)
        argv = ["run", "--machine", rng.choice(("pc", "isapc")), "--replay-input", path,
                "--max-cycles", 5_000_000]
        return argv, [path, "--replay-input"], []
    lines = [rng.choice(KEYS_LINES) for _ in range(rng.randrange(1, 12))]
    path = write(os.path.join(d, "keys.txt"), "\n".join(lines).encode())
    argv = ["run", "--machine", "isapc", "--keys-file", path, "--max-cycles", 5_000_000]
    return argv, [path, "--keys-file"], []


# ---------------------------------------------------------------- kernels

def bzimage(rng):
    setup_sects = rng.choice((4, 4, 0, 1, 63, 255))
    size = (setup_sects + 1) * 512 + rng.choice((0, 16, 4096, 65536))
    k = bytearray(rng.randbytes(size) if rng.random() < 0.3 else bytes(size))
    if len(k) < 0x268:
        k += bytes(0x268 - len(k))
    k[0x1F1] = setup_sects
    k[0x1F4:0x1F8] = struct.pack("<I", rng.choice(((size - (setup_sects + 1) * 512) // 16,
                                                   0, 0xFFFFFFFF, rng.getrandbits(20))))
    k[0x1FE:0x200] = b"\x55\xAA"
    k[0x202:0x206] = b"HdrS"
    k[0x206:0x208] = struct.pack("<H", rng.choice((0x20F, 0x200, 0x100, 0x206, 0xFFFF)))
    k[0x211] = rng.choice((1, 0, 0x81, 0xFF))
    k[0x214:0x218] = struct.pack("<I", rng.choice((0x100000, 0, 0xFFFFFFFF)))
    k[0x218:0x21C] = struct.pack("<I", rng.getrandbits(32) if rng.random() < 0.3 else 0)
    k[0x230:0x234] = struct.pack("<I", rng.choice((0x100000, 0, 3, 1 << 31)))
    k[0x234] = rng.randrange(2)
    k[0x238:0x23C] = struct.pack("<I", rng.choice((255, 0, 0xFFFFFFFF)))
    k[0x22C:0x230] = struct.pack("<I", rng.choice((0x37FFFFFF, 0, 0xFFFFFFFF)))
    k[0x260:0x264] = struct.pack("<I", rng.choice((0x1000000, 0, 0xFFFFFFFF)))
    return bytes(k)


def multiboot(rng):
    size = rng.choice((64, 8192, 20000))
    k = bytearray(rng.randbytes(size) if rng.random() < 0.3 else bytes(size))
    at = rng.choice((0, 4, 8188, 32)) & ~3
    flags = rng.choice((0x10003, 0x3, 0x10000, 0x10007, rng.getrandbits(32)))
    magic = 0x1BADB002
    fields = [magic, flags, (-(magic + flags)) & 0xFFFFFFFF]
    load = rng.choice((0x100000, 0, 0xFFFFF000, 0x7C00))
    fields += [load + at, load, rng.choice((0, load + size, load - 1, 0xFFFFFFFF)),
               rng.choice((0, load + size + 0x1000, 0xFFFFFFFF, load)),
               rng.choice((load + 64, 0, 0xFFFFFFFF))]
    fields = [f & 0xFFFFFFFF for f in fields]
    fields += [rng.randrange(3), rng.randrange(2000), rng.randrange(2000), rng.randrange(33)]
    blob = struct.pack("<12I", *fields)
    if at + len(blob) <= len(k):
        k[at:at + len(blob)] = blob
    return bytes(k)


def case_kernel(rng, d):
    data = bzimage(rng) if rng.random() < 0.5 else multiboot(rng)
    path = write(os.path.join(d, "kernel"), mutate(rng, data, rng.choice((0, 1, 4))))
    argv = ["run", "--machine", rng.choice(("pc", "isapc")), "--kernel", path,
            "--max-cycles", 10_000_000, "--memory", rng.choice(("1M", "4M", "32M"))]
    if rng.random() < 0.3:
        initrd = write(os.path.join(d, "initrd"), rng.randbytes(rng.randrange(1, 5000)))
        argv += ["--initrd", initrd if rng.random() < 0.8 else initrd + ",/nonexistent"]
    if rng.random() < 0.3:
        argv += ["--append", rng.choice(("console=ttyS0", "x" * 5000, "\u00e9"))]
    return argv, [path, "--kernel", "--initrd", "initrd", "--append", "--memory"], []


CASES = {"disk": case_disk, "iso": case_iso, "toml": case_toml, "trace": case_trace,
         "input": case_input, "kernel": case_kernel}


def run(seed, case_dir, kind=None):
    rng = random.Random("files:%d" % seed)
    kind = kind or KINDS[seed % len(KINDS)]
    argv, names, media = CASES[kind](rng, case_dir)
    before = {p: sha(p) for p in media}
    old = os.environ.get("CYCLE86_MACHINES")
    os.environ["CYCLE86_MACHINES"] = case_dir
    try:
        status, err = cli(argv)
    finally:
        if old is None:
            os.environ.pop("CYCLE86_MACHINES", None)
        else:
            os.environ["CYCLE86_MACHINES"] = old
    outcome = verdict(status, err, names + [case_dir])
    after = {p: sha(p) for p in media}
    if after != before:
        return {"outcome": DATA_LOSS, "kind": kind, "files": 1,
                "detail": "changed: %s" % [p for p in media if before[p] != after[p]]}
    result = {"outcome": outcome, "kind": kind, "files": 1, "status": status}
    if outcome in (BAD_MESSAGE, USER_ERROR):
        result["detail"] = "cycle86 %s\n%s" % (" ".join(map(str, argv)), err.strip()[-2000:])
    return result
