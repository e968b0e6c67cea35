"""Rung 1 of the guest ladder (issue 9): Debian's memtest86+ reaches its test screen.

The package is fetched with `apt-get download` (never installed) into a cache outside the
git tree ($XDG_CACHE_HOME/cycle86/ladder, else ~/.cache/cycle86/ladder) and unpacked with
`dpkg-deb -x`.  Its 32-bit image, /boot/memtest86+ia32.bin, is a Linux boot-protocol image,
so it boots as QEMU's -kernel boots it: SeaBIOS's POST, then cycle86's direct kernel boot
(`--kernel`, docs/kernel-boot.md).  The command line is `nopause` (memtest's own option:
no wait for a configuration key at start-up), which saves three guest seconds of waiting.

On the pentium2 model memtest turns on PAE paging (its screen says [PAE]) and must get to
a running test; on both the pentium and pentium2 models its run-time clock, computed from
RDTSC deltas divided (on the x87) by its PIT-calibrated clocks per millisecond, must
agree with the guest time that passed.  docs/ladder-memtest.md has the figures.

Without apt-get or the network the tests skip, unless CYCLE86_REQUIRE_SHARED=1 (CI):
then they fail.  `python -m tests.test_ladder_memtest` prints the figures (instructions,
cycles and wall seconds to the test screen, and QEMU's wall time when it is installed).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from core import pc as pcmod

PACKAGE = "memtest86+"
IMAGE = "boot/memtest86+ia32.bin"
MEMORY = 128 << 20
APPEND = "nopause"
# memtest86+ 6.10 reaches its test screen after about 44 million cycles on pentium2 and 20
# million on pentium; ten times that means it is stuck.
MILESTONE_CYCLES = 500_000_000
TIME_RE = re.compile(r"Time:\s+(\d+):(\d\d):(\d\d)")
TEST_RE = re.compile(r"Test #\s*\d+\s+\[[A-Za-z]")


def cache_dir():
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cycle86" / "ladder"


def unavailable(reason):
    if os.environ.get("CYCLE86_REQUIRE_SHARED") == "1":
        pytest.fail("memtest86+ is required in CI: " + reason)
    pytest.skip(reason)


def fetch_memtest():
    """Path of memtest86+ia32.bin from Debian's package, downloading it once; None and a
    reason when it cannot be had."""
    cache = cache_dir()
    unpacked = cache / PACKAGE
    image = unpacked / IMAGE
    if image.is_file():
        return image, None
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            return None, "%s is not available to fetch Debian's %s package" % (tool, PACKAGE)
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        proc = subprocess.run(["apt-get", "download", PACKAGE], cwd=tmp, capture_output=True,
                              text=True)
        debs = sorted(Path(tmp).glob("*.deb"))
        if proc.returncode != 0 or not debs:
            return None, "apt-get download %s failed (run apt-get update?): %s" % (
                PACKAGE, proc.stderr.strip()[-300:])
        out = Path(tmp) / "root"
        proc = subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(out)], capture_output=True,
                              text=True)
        if proc.returncode != 0 or not (out / IMAGE).is_file():
            return None, "%s has no %s: %s" % (debs[0].name, IMAGE, proc.stderr.strip())
        if not image.is_file():
            shutil.rmtree(unpacked, ignore_errors=True)
            out.rename(unpacked)
    return image, None


@pytest.fixture(scope="module")
def memtest():
    image, reason = fetch_memtest()
    if image is None:
        unavailable(reason)
    if not pcmod.FIRMWARE_NAMES["seabios"].is_file():
        unavailable("SeaBIOS is not installed (apt-get install seabios)")
    return image


def boot(image, cpu):
    config = pcmod.PCConfig(machine="pc", cpu=cpu, memory=MEMORY, bios="seabios",
                            kernel=str(image), append=APPEND)
    return pcmod.build_pc(config)


def screen(pc):
    return "\n".join(pc.screen_text() or [])


def on_test_screen(pc):
    text = screen(pc)
    return "Status: Testing" in text and TEST_RE.search(text) is not None


def run_time(pc):
    """memtest's run time in seconds, or None while it shows none."""
    m = TIME_RE.search(screen(pc))
    return None if m is None else int(m.group(1)) * 3600 + int(m.group(2)) * 60 + int(m.group(3))


def to_test_screen(image, cpu):
    pc = boot(image, cpu)
    outcome = pc.run(max_cycles=MILESTONE_CYCLES, until=on_test_screen)
    return pc, outcome


@pytest.mark.parametrize("cpu,name", [("pentium2", "Pentium II"), ("pentium", "Pentium")])
def test_memtest_runs_a_test_and_keeps_time(memtest, cpu, name):
    pc, outcome = to_test_screen(memtest, cpu)
    text = screen(pc)
    assert outcome.reason == "until", "no test screen after %d cycles (%s):\n%s" % (
        outcome.cycles, outcome.description, text)
    assert "Memtest86+ v" in text
    assert re.search(r"[|\u2502] %s\s*$" % re.escape(name), text, re.M), text   # CPUID family
    assert re.search(r"Memory  :\s+128MB", text), text
    # memtest shows [PAE] where CPUID reports it, and then runs with PAE paging on.
    assert ("[PAE]" in text) == (cpu == "pentium2"), text
    if cpu == "pentium2":
        assert pc.machine.cpu.cr4 & 0x20 and pc.machine.cpu.cr0 & 0x80000000
    assert re.search(r"Errors: 0\b", text), text

    # The run-time clock: memtest started it just before it showed "Testing" (at most one
    # run slice, 1M cycles, before `start`); it refreshes it as the test makes progress.
    freq = pc.machine.clock.frequency
    start = pc.machine.clock.now
    assert run_time(pc) in (None, 0)
    outcome = pc.run(max_cycles=4 * freq, until=lambda p: (run_time(p) or 0) >= 1)
    shown = run_time(pc)
    elapsed = (pc.machine.clock.now - start) / freq
    assert outcome.reason == "until", "memtest's clock stayed at %r for %.2f guest s" % (
        shown, elapsed)
    assert shown <= elapsed + 0.02, (shown, elapsed)
    assert shown >= elapsed - 2, (shown, elapsed)     # refreshed at least every 2 s


# ---------------------------------------------------------------- figures (not a test)

def _figures():
    image, reason = fetch_memtest()
    if image is None:
        print(reason)
        return
    for cpu in ("pentium2", "pentium"):
        t0 = time.perf_counter()
        pc, outcome = to_test_screen(image, cpu)
        print("cycle86 %-8s to the test screen: %d instructions, %d cycles (%.3f guest s), "
              "%.2f s wall (%s)" % (cpu, outcome.instructions, outcome.cycles,
                                    outcome.cycles / pc.machine.clock.frequency,
                                    time.perf_counter() - t0, outcome.reason))
    qemu = shutil.which("qemu-system-i386")
    if qemu is None:
        return
    for cpu in ("pentium2", "pentium"):
        with tempfile.TemporaryDirectory() as tmp:
            log = Path(tmp) / "serial.txt"
            t0 = time.perf_counter()
            proc = subprocess.Popen([qemu, "-cpu", cpu, "-m", str(MEMORY >> 20),
                                     "-display", "none", "-no-reboot", "-kernel", str(image),
                                     "-append", APPEND + " console=ttyS0",
                                     "-serial", "file:%s" % log])
            wall = None
            while time.perf_counter() - t0 < 60:
                if log.is_file() and b"Status: Testing" in log.read_bytes():
                    wall = time.perf_counter() - t0
                    break
                time.sleep(0.005)
            proc.kill()
            proc.wait()
        print("QEMU    %-8s to the test screen: %s s wall (with console=ttyS0 to see it)"
              % (cpu, "%.2f" % wall if wall is not None else "no screen in 60"))


if __name__ == "__main__":
    sys.exit(_figures())
