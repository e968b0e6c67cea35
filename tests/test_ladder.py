"""The guest ladder (issue 9; docs/ladder.md): real guests, unmodified, under real firmware,
driven by nothing but guest input.

* Rung 2: a GRUB 2 rescue CD (grub-mkrescue) through SeaBIOS from the CD-ROM (ATAPI, El
  Torito) boots Debian's i386 686 kernel and a busybox initramfs to a shell on ttyS0.
* Rung 3: the same kernel and initramfs by direct boot (--kernel/--initrd/--append).
  Both type `echo ladder-$((6*7))` into the shell over COM1 and wait for `ladder-42`: the
  guest's userspace read the line, expanded the arithmetic and wrote the answer.
* Rung 4: the Multiboot guest of tests/test_kernel_boot.py (tests/guests/multiboot.asm),
  on the ladder's machine.
* Rung 1 (memtest86+) is tests/test_ladder_memtest.py; rung 5 (a DOS) has no image in a
  package registry (docs/ladder.md).

The artifacts come from Debian packages, built by tests/ladder.py into a cache outside the
tree.  When a package or tool cannot be had the Linux rungs skip with the reason, except
under CYCLE86_REQUIRE_SHARED=1 (CI), where that is a failure.  They are marked `ladder`
(`pytest -m "not ladder"` leaves them out; they run by default).
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from core import pc as pcmod
from tests import ladder
from tests.test_kernel_boot import MB_EXIT, assemble, fields

pytestmark = pytest.mark.ladder

# Budgets, in guest cycles of the 266 MHz Pentium II: about twice what the boots take
# today (11.2 G and 12.3 G, docs/ladder.md), so a regression shows as a failure in
# bounded time, not as a hang.
DIRECT_MAX_CYCLES = 24_000_000_000
GRUB_MAX_CYCLES = 26_000_000_000
MEMORY = 128 << 20
ROOT = Path(__file__).resolve().parent.parent


def unavailable(reason):
    if os.environ.get("CYCLE86_REQUIRE_SHARED") == "1":
        pytest.fail("the ladder's artifacts cannot be built: %s" % reason)
    pytest.skip(reason)


RUNGS = {"direct": ("test_rung3_direct_boot_to_a_busybox_shell", DIRECT_MAX_CYCLES),
         "grub": ("test_rung2_grub_rescue_cd_to_a_busybox_shell", GRUB_MAX_CYCLES)}


class Boots:
    """The Linux boots, each in its own process (`python -m tests.ladder run RUNG
    --json`), started together when the module's first test needs them: they are
    independent machines, and on a two-core CI runner the two take the time of one."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.procs = {}
        self.unavailable = {}

    def start(self, a, rung):
        out = self.tmp / (rung + ".json")
        log = open(self.tmp / (rung + ".log"), "w")
        self.procs[rung] = (subprocess.Popen(
            [sys.executable, "-m", "tests.ladder", "run", rung, "--json", str(out),
             "--max-cycles", str(RUNGS[rung][1])],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT), out, log)

    def result(self, rung):
        if rung in self.unavailable:
            unavailable(self.unavailable[rung])
        proc, out, log = self.procs[rung]
        proc.wait()
        log.close()
        assert out.is_file(), "the %s boot ended (status %d) with no result:\n%s" % (
            rung, proc.returncode, (self.tmp / (rung + ".log")).read_text()[-4000:])
        return json.loads(out.read_text())

    def close(self):
        for proc, _, log in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            log.close()


@pytest.fixture(scope="module")
def artifacts():
    try:
        return ladder.build(log=lambda s: None)
    except ladder.LadderUnavailable as e:
        unavailable(str(e))


@pytest.fixture(scope="module")
def boots(request, artifacts, tmp_path_factory):
    selected = {item.name for item in request.session.items}
    b = Boots(tmp_path_factory.mktemp("ladder"))
    for rung, (test, _) in RUNGS.items():
        if test not in selected:
            continue
        if rung == "grub":
            try:
                ladder.iso(artifacts, log=lambda s: None)
            except ladder.LadderUnavailable as e:
                b.unavailable[rung] = str(e)
                continue
        b.start(artifacts, rung)
    yield b
    b.close()


def check_shell(run, a):
    tail = run["serial"][-4000:]
    assert run["reached"], "%s; the serial line ended with:\n%s" % (run["reason"], tail)
    # Real firmware: the pc machine's default, SeaBIOS; the ladder's CPU and RAM.
    assert run["seabios"], run["bios"]
    assert run["cpu"] == "pentium2" and run["memory"] == MEMORY
    text = run["serial"].replace("\r", "")
    # The kernel is the package's (its uname -r and version), it ran our /init, the shell
    # prompted, and the answer is a line of its own after the command was echoed.
    assert re.search(r"Linux version %s .*Debian %s" % (re.escape(a.kernel_release),
                                                      re.escape(a.kernel_version)), text)
    assert "Run /init as init process" in text
    order = [text.index(ladder.MARKER), text.index(ladder.PROMPT),
             text.index(ladder.COMMAND), text.index("\n" + ladder.ANSWER + "\n")]
    assert order == sorted(order), order
    # The initrd reached the kernel and was unpacked whole (its pages freed afterwards).
    assert "Freeing initrd memory: %dK" % (-(-a.initramfs.stat().st_size // 4096) * 4) in text
    names = [m["name"] for m in run["milestones"]]
    assert names == (["grub"] if run["rung"] == "grub" else []) + [
        "kernel", "marker", "prompt", "answer"]
    cycles = [m["cycles"] for m in run["milestones"]]
    assert cycles == sorted(cycles)
    return text


def test_rung2_grub_rescue_cd_to_a_busybox_shell(boots, artifacts):
    text = check_shell(boots.result("grub"), artifacts)
    # GRUB read grub.cfg from the CD, took its serial terminal and started the entry.
    assert text.index(ladder.GRUB_BOOTING) < text.index("Linux version")
    # GRUB's `linux` command put BOOT_IMAGE= first: the kernel came from GRUB, which read
    # it from the CD through the BIOS's El Torito and ATAPI services.
    assert "Kernel command line: BOOT_IMAGE=/boot/vmlinuz %s\n" % ladder.APPEND in text


def test_rung3_direct_boot_to_a_busybox_shell(boots, artifacts):
    text = check_shell(boots.result("direct"), artifacts)
    assert "Kernel command line: %s\n" % ladder.APPEND in text


def test_rung4_multiboot_kernel_on_the_ladder_machine(tmp_path):
    """tests/test_kernel_boot.py checks the Multiboot guest's every field under three
    BIOSes; here it runs on the ladder's machine (Pentium II, 128 MiB, SeaBIOS)."""
    kernel = assemble(tmp_path, "multiboot", out="multiboot.elf")
    module = tmp_path / "module.txt"
    module.write_bytes(b"ladder module\n")
    pc = pcmod.build_pc(pcmod.PCConfig(machine="pc", cpu="pentium2", memory=MEMORY,
                                       kernel=str(kernel), initrd="%s rung=4" % module,
                                       append="rung=4"))
    try:
        outcome = pc.run(max_cycles=1_500_000_000)
        text = pc.debugport.text
    finally:
        pc.close()
    assert outcome.exit_status == MB_EXIT, (outcome.description, text)
    f = fields(text)
    assert f["magic"] == "2BADB002"
    assert f["cmdline"] == "%s rung=4" % kernel
    assert f["mods_count"] == "1" and text.count("string=%s rung=4" % module) == 1
    entries = [(int(b, 16), int(n, 16), int(t)) for b, n, t in re.findall(
        r"mmap base=([0-9A-F]{16}) length=([0-9A-F]{16}) type=(\d+)", text)]
    high = [e for e in entries if e[0] == 0x100000]
    assert high and high[0][2] == 1
    assert int(f["mem_upper"]) * 1024 == high[0][1]
    assert max(b + n for b, n, _ in entries if b < 0xF0000000) == MEMORY


def test_initramfs_is_a_newc_archive_the_kernel_can_read():
    """The initramfs writer against the format of the kernel's
    Documentation/driver-api/early-userspace/buffer-format.rst, read back field by field:
    "070701", 13 eight-digit hex fields, the name (with its NUL, namesize counts it), the
    header and name padded to 4 bytes, the data padded to 4 bytes, then TRAILER!!!."""
    busybox = bytes(range(256)) * 5 + b"xyz"            # 1283 bytes: needs padding
    data = ladder.initramfs(busybox)
    entries, pos = {}, 0
    while True:
        assert data[pos:pos + 6] == b"070701", pos
        f = [int(data[pos + 6 + 8 * i:pos + 14 + 8 * i], 16) for i in range(13)]
        ino, mode, uid, gid, nlink, mtime, size, dmaj, dmin, rmaj, rmin, namesize, check = f
        name = data[pos + 110:pos + 110 + namesize]
        assert name.endswith(b"\0") and b"\0" not in name[:-1]
        name = name[:-1].decode()
        pos += 110 + namesize
        pos += -pos % 4
        body = data[pos:pos + size]
        pos += size
        pos += -pos % 4
        if name == "TRAILER!!!":
            break
        assert name not in entries
        entries[name] = (mode, body, (rmaj, rmin), nlink)
    assert pos == len(data)
    assert entries["bin/busybox"][1] == busybox and entries["bin/busybox"][0] == 0o100755
    assert entries["bin/sh"][0] & 0o170000 == 0o120000 and entries["bin/sh"][1] == b"busybox"
    assert entries["dev/console"][0] == 0o020600 and entries["dev/console"][2] == (5, 1)
    init = entries["init"][1].decode()
    assert entries["init"][0] == 0o100755 and init.startswith("#!/bin/sh\n")
    assert ladder.MARKER in init and "mount -t devtmpfs devtmpfs /dev" in init
    for d in ("bin", "dev", "proc", "sys"):
        assert entries[d][0] == 0o040755 and entries[d][3] == 2
    # Every directory an entry lives in comes before it (the kernel does not create them).
    seen = set()
    for name in entries:
        parent = name.rpartition("/")[0]
        assert not parent or parent in seen, name
        seen.add(name)
