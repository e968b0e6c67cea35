"""The guest ladder's artifacts and runs (issue 9; docs/ladder.md).

Builds, from Debian packages, what the Linux rungs boot, into a cache outside the git tree
(nothing downloaded is ever committed):

* `vmlinuz`: Debian's i386 686 kernel (linux-image-686:i386 names the current one), from
  `apt-get download` + `dpkg-deb -x` (never installed into the host);
* `initramfs.cpio`: busybox (busybox-static:i386) and a small /init, written here as a cpio
  "newc" archive (no host cpio tool), uncompressed (the kernel would otherwise spend guest
  time inflating it);
* `grub-rescue-HASH.iso`: a GRUB 2 rescue CD (grub-mkrescue, i386-pc platform from grub-pc-bin)
  whose grub.cfg uses the serial console and boots the same kernel and initramfs.

The cache directory is ${CYCLE86_LADDER_CACHE:-${XDG_CACHE_HOME:-~/.cache}/cycle86/ladder}/KEY,
KEY a hash of the package versions and of this builder's recipe (the ISO's name carries a
hash of its grub.cfg), so a rebuild happens only when an input changes.

And it runs them: `boot_to_shell` boots a configured PC until the initramfs's shell prompt
appears on COM1, then types a command into the UART's receive side (in guest time: the
bytes are queued at the guest cycle the prompt was seen, so a run is deterministic) and
waits for its answer.  `profile` samples the guest EIP during such a boot.

    python -m tests.ladder build            # build (or find) the artifacts, print paths
    python -m tests.ladder run direct       # rung 3: direct boot to the shell and answer
    python -m tests.ladder run grub         # rung 2: the GRUB rescue ISO from the CD-ROM
    python -m tests.ladder profile direct   # rung 3 with an EIP histogram by kernel symbol
"""
import argparse
import bisect
import collections
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

KERNEL_META = "linux-image-686:i386"     # Debian's metapackage: depends on the current kernel
BUSYBOX = "busybox-static:i386"
# Host tools for the ISO (.ci/run installs them): grub-mkrescue is in grub-common, the
# i386-pc platform in grub-pc-bin, xorriso writes the ISO (mtools would write an EFI
# image, which a BIOS-only ISO does not have).
GRUB_PLATFORM_DIR = Path("/usr/lib/grub/i386-pc")
ISO_TOOLS = ("grub-mkrescue", "xorriso")

MARKER = "cycle86 ladder initramfs: userspace is up"
PROMPT = "ladder# "
COMMAND = "echo ladder-$((6*7))"
ANSWER = "ladder-42"
# The serial console at 115200 baud, as QEMU users write it.  Without a speed Linux's 8250
# console runs at 9600 baud (uart_set_options' default), and the ~19 KB of boot messages
# then take 20 s of guest time, spent polling LSR for THRE as on real hardware.
APPEND = "console=ttyS0,115200"

# The initramfs's /init.  devtmpfs gives /dev/ttyS0; cttyhack opens the console the kernel
# was given (console=ttyS0) as the shell's controlling terminal, so the shell has job
# control and a prompt, as a getty would give it.
INIT = """#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "%s"
export PS1='%s'
exec setsid cttyhack sh
""" % (MARKER, PROMPT)
# The busybox applets the image links by name (busybox's own applet table decides what
# they do; the shell finds the others through `busybox NAME`).
APPLETS = ("sh", "mount", "umount", "setsid", "cttyhack", "echo", "cat", "ls", "dmesg",
           "uname", "poweroff", "reboot", "sleep")

GRUB_CFG = """serial --unit=0 --speed=115200
terminal_input serial
terminal_output serial
set timeout=0
menuentry "cycle86 ladder" {
    linux /boot/vmlinuz %s
    initrd /boot/initramfs.cpio
}
"""
# What GRUB writes on the serial terminal when it starts the entry.
GRUB_BOOTING = "Booting `cycle86 ladder'"
# Bumped when the recipe changes in a way the package versions do not show.
RECIPE = "1"


class LadderUnavailable(Exception):
    """A package or tool the ladder needs cannot be had (the tests skip, or fail in CI)."""


# ===================================================================== cpio (newc)

def cpio_newc(entries):
    """A cpio archive in the "newc" format (the kernel's initramfs format,
    Documentation/driver-api/early-userspace/buffer-format.rst): each entry
    (name, mode, data, rdev) as a 110-byte ASCII header, the name and the data, each padded
    to 4 bytes; the archive ends with the TRAILER!!! entry.  rdev is (major, minor)."""
    out = bytearray()

    def put(ino, name, mode, data=b"", rdev=(0, 0), nlink=1):
        nb = name.encode() + b"\0"
        fields = (ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdev[0], rdev[1], len(nb), 0)
        out.extend(b"070701" + b"".join(b"%08X" % f for f in fields))
        out.extend(nb)
        out.extend(bytes(-len(out) % 4))
        out.extend(data)
        out.extend(bytes(-len(out) % 4))

    for ino, (name, mode, data, rdev) in enumerate(entries, start=1):
        put(ino, name, mode, data, rdev, nlink=2 if mode & 0o170000 == 0o040000 else 1)
    put(0, "TRAILER!!!", 0)
    return bytes(out)


S_IFDIR, S_IFREG, S_IFLNK, S_IFCHR = 0o040000, 0o100000, 0o120000, 0o020000


def initramfs(busybox):
    """The initramfs: busybox, its applet links, /init, and /dev/console (the kernel opens
    it for init's stdio before /init has mounted devtmpfs)."""
    e = [(d, S_IFDIR | 0o755, b"", (0, 0)) for d in ("bin", "dev", "proc", "sys", "root", "tmp")]
    e.append(("dev/console", S_IFCHR | 0o600, b"", (5, 1)))
    e.append(("bin/busybox", S_IFREG | 0o755, busybox, (0, 0)))
    e += [("bin/" + a, S_IFLNK | 0o777, b"busybox", (0, 0)) for a in APPLETS]
    e.append(("init", S_IFREG | 0o755, INIT.encode(), (0, 0)))
    return cpio_newc(e)


# ===================================================================== the build

def cache_root():
    env = os.environ.get("CYCLE86_LADDER_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "cycle86" / "ladder"


def _run(cmd, what, **kw):
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    except FileNotFoundError:
        raise LadderUnavailable("%s: %s is not installed" % (what, cmd[0])) from None
    if proc.returncode:
        raise LadderUnavailable("%s: `%s` failed: %s" % (what, " ".join(cmd),
                                                         (proc.stderr or proc.stdout).strip()))
    return proc.stdout


def candidate(package):
    """(name, version) apt would install for `package` (arch-qualified)."""
    out = _run(["apt-cache", "show", "--no-all-versions", package], "apt-cache show " + package)
    info = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line
                and not line.startswith(" "))
    if "Version" not in info:
        raise LadderUnavailable("%s: apt knows no version (is the i386 architecture enabled "
                                "and apt-get update done?)" % package)
    return info, info["Version"]


def kernel_package():
    """The kernel package linux-image-686:i386 depends on, e.g. linux-image-6.1.0-57-686."""
    info, _ = candidate(KERNEL_META)
    for dep in info.get("Depends", "").split(","):
        name = dep.strip().split(" ")[0]
        if name.startswith("linux-image-") and name.endswith("-686"):
            return name + ":i386"
    raise LadderUnavailable("%s depends on no linux-image-*-686" % KERNEL_META)


@dataclass
class Artifacts:
    root: Path
    kernel_version: str          # the package version, e.g. 6.1.192-3
    kernel_release: str          # uname -r, e.g. 6.1.0-57-686
    busybox_version: str
    vmlinuz: Path = None
    initramfs: Path = None
    iso: Path = None             # None until `iso()` built it

    def describe(self):
        return {k: str(v) for k, v in self.__dict__.items()}


def _download(package, version, dest):
    """apt-get download package=version into dest; the .deb path."""
    dest.mkdir(parents=True, exist_ok=True)
    name = package.split(":")[0]
    _run(["apt-get", "download", "-q", "%s=%s" % (package, version)], "apt-get download "
         + package, cwd=dest)
    debs = sorted(dest.glob(name + "_*.deb"))
    if not debs:
        raise LadderUnavailable("apt-get download %s left no .deb" % package)
    return debs[-1]


def build(log=print):
    """Build (or find in the cache) the kernel and initramfs; returns Artifacts."""
    kpkg = kernel_package()
    _, kver = candidate(kpkg)
    _, bver = candidate(BUSYBOX)
    release = kpkg.split(":")[0][len("linux-image-"):]
    key = hashlib.sha256(("%s=%s %s=%s recipe=%s %s" % (kpkg, kver, BUSYBOX, bver, RECIPE,
                                                        INIT)).encode()).hexdigest()[:16]
    root = cache_root() / key
    a = Artifacts(root, kver, release, bver, vmlinuz=root / "vmlinuz",
                  initramfs=root / "initramfs.cpio")
    if all(p.is_file() for p in (a.vmlinuz, a.initramfs)):
        return a
    log("ladder: building %s (%s %s, %s %s)" % (root, kpkg, kver, BUSYBOX, bver))
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        tmp = Path(tmp)
        for pkg, ver in ((kpkg, kver), (BUSYBOX, bver)):
            deb = _download(pkg, ver, tmp / "debs")
            _run(["dpkg-deb", "-x", str(deb), str(tmp / "x")], "dpkg-deb -x " + deb.name)
        x = tmp / "x"
        shutil.copyfile(x / "boot" / ("vmlinuz-" + release), tmp / "vmlinuz")
        busybox = (x / "bin" / "busybox").read_bytes()
        (tmp / "initramfs.cpio").write_bytes(initramfs(busybox))
        for name in ("vmlinuz", "initramfs.cpio"):
            os.replace(tmp / name, root / name)
    return a


def iso(a, log=print):
    """The GRUB 2 rescue ISO booting a's kernel and initramfs (built once per cache key)."""
    cfg = GRUB_CFG % APPEND
    path = a.root / ("grub-rescue-%s.iso" % hashlib.sha256(cfg.encode()).hexdigest()[:8])
    if path.is_file():
        a.iso = path
        return a
    missing = [t for t in ISO_TOOLS if shutil.which(t) is None]
    if missing:
        raise LadderUnavailable("grub-mkrescue needs %s (apt-get install grub-common "
                                "grub-pc-bin xorriso mtools)" % ", ".join(missing))
    if not (GRUB_PLATFORM_DIR / "modinfo.sh").is_file():
        raise LadderUnavailable("%s is missing (apt-get install grub-pc-bin)"
                                % GRUB_PLATFORM_DIR)
    log("ladder: building %s" % path)
    with tempfile.TemporaryDirectory(dir=a.root) as tmp:
        tmp = Path(tmp)
        tree = tmp / "tree"
        (tree / "boot" / "grub").mkdir(parents=True)
        shutil.copyfile(a.vmlinuz, tree / "boot" / "vmlinuz")
        shutil.copyfile(a.initramfs, tree / "boot" / "initramfs.cpio")
        (tree / "boot" / "grub" / "grub.cfg").write_text(cfg)
        # Only the BIOS platform: the ISO boots through El Torito's no-emulation image.
        _run(["grub-mkrescue", "-d", str(GRUB_PLATFORM_DIR), "-o", str(tmp / "out.iso"),
              str(tree)], "grub-mkrescue")
        os.replace(tmp / "out.iso", path)
    a.iso = path
    return a


# ===================================================================== running

@dataclass
class Milestone:
    name: str
    cycles: int
    instructions: int
    wall: float


@dataclass
class ShellRun:
    """What `boot_to_shell` saw."""
    serial: str = ""
    milestones: list = field(default_factory=list)
    reached: bool = False            # the answer came back
    reason: str = ""

    def at(self, name):
        for m in self.milestones:
            if m.name == name:
                return m
        return None


def config(a, rung, memory=128 << 20, cpu="pentium2"):
    from core.pc import PCConfig
    if rung == "direct":
        return PCConfig(machine="pc", cpu=cpu, memory=memory, kernel=str(a.vmlinuz),
                        initrd=str(a.initramfs), append=APPEND)
    if rung == "grub":
        return PCConfig(machine="pc", cpu=cpu, memory=memory, cdrom=str(a.iso), boot="cdrom")
    raise ValueError(rung)


class Session:
    """COM1 of a built PC as a terminal the test types into.  Output is kept in memory;
    typed bytes are queued into the UART's receive side at the guest cycle they are typed,
    which is always the end of a run slice in which something was awaited: a run is a
    function of its inputs (the same bytes at the same cycles)."""

    def __init__(self, pc, sample=None, log=None):
        from peripherals.uart import MemoryBackend
        self.pc = pc
        self.uart = pc.chip("uart")
        self.serial = MemoryBackend()
        self.uart.attach(self.serial)
        self.sample = sample
        self.log = log
        m = pc.machine
        self.c0, self.i0, self.t0 = m.clock.now, m.cpu.icount, time.perf_counter()
        self.scanned = 0
        self.milestones = []
        self.reason = ""

    @property
    def text(self):
        return self.serial.text

    def type(self, text):
        self.uart.receive(text.encode())

    def await_text(self, needle, name, end_cycle):
        """Run until `needle` appears in the output after what was awaited before; record
        milestone `name`.  False if the budget ran out or the machine stopped."""
        m = self.pc.machine
        clock, cpu = m.clock, m.cpu
        slice_cycles = 2_000_000 if self.sample is None else self.sample.slice_cycles
        while True:
            found = self.serial.text.find(needle, self.scanned)
            if found >= 0:
                self.scanned = found + len(needle)
                ms = Milestone(name, clock.now - self.c0, cpu.icount - self.i0,
                               time.perf_counter() - self.t0)
                self.milestones.append(ms)
                if self.log:
                    self.log("ladder: %-7s at %7.3f G cycles, %7.3f G instructions, %6.0f s wall"
                             % (name, ms.cycles / 1e9, ms.instructions / 1e9, ms.wall))
                return True
            if clock.now >= end_cycle:
                self.reason = "the cycle budget was spent waiting for %r" % needle
                return False
            reason = m.run(max_cycles=min(slice_cycles, end_cycle - clock.now))
            if self.sample is not None:
                self.sample(self.pc)
            if reason != "budget" and self.serial.text.find(needle, self.scanned) < 0:
                self.reason = "the machine stopped (%s) waiting for %r" % (reason, needle)
                return False


def boot_to_shell(pc, max_cycles, command=COMMAND, answer=ANSWER, sample=None, log=None,
                  session=None, first=()):
    """Run `pc` until the shell's prompt is on COM1, type `command`, and run until
    `answer` comes back on a line of its own.

    Milestones (guest cycles, instructions, wall seconds from the start): "kernel" (the
    "Linux version" line: the serial console is up), "marker" (/init's line), "prompt",
    "answer"; `first` = (name, text) pairs awaited before those (the boot loader's).
    `sample(pc)` is called after every slice (for profiles)."""
    s = session or Session(pc, sample=sample, log=log)
    end = pc.machine.clock.now + max_cycles
    run = ShellRun()
    ok = (all(s.await_text(text, name, end) for name, text in first)
          and s.await_text("Linux version", "kernel", end)
          and s.await_text(MARKER, "marker", end) and s.await_text(PROMPT, "prompt", end))
    if ok:
        s.type(command + "\n")
        ok = s.await_text("\n" + answer, "answer", end)
    run.serial = s.text
    run.milestones = list(s.milestones)
    run.reached = ok
    run.reason = "answered" if ok else s.reason
    return run


class Sampler:
    """The guest EIP every `slice_cycles` guest cycles (the run loop returns to Python
    between slices), with the cycle and instruction counts and CR0's PE and PG bits; a
    halted CPU's samples count as "<halt>"."""

    def __init__(self, slice_cycles=200_000):
        self.slice_cycles = slice_cycles
        self.samples = []                 # (cycle, icount, eip or -1 when halted, cr0 & PG|PE)

    def __call__(self, pc):
        cpu = pc.machine.cpu
        self.samples.append((pc.machine.clock.now, cpu.icount,
                             -1 if cpu.halted else cpu.eip, cpu.cr0 & 0x80000001,
                             self.callers(pc) if cpu.cr0 & 0x80000000 else ()))

    @staticmethod
    def callers(pc, depth=8):
        """Return addresses up the kernel's frame-pointer chain (the i386 kernel keeps
        EBP frames), read through the kernel's direct map (virtual = physical + 3 GiB)."""
        import struct
        cpu, bus = pc.machine.cpu, pc.machine.bus
        ebp, out = cpu.r[5], []
        for _ in range(depth):
            if not 0xC0000000 <= ebp < 0xC0000000 + pc.config.memory - 8:
                break
            nxt, ret = struct.unpack("<II", bytes(bus.read(ebp - 0xC0000000, 8)))
            out.append(ret)
            if nxt <= ebp:
                break
            ebp = nxt
        return tuple(out)


# Debian's /boot/System.map is a placeholder (the real one is in the -dbg package, 765 MB),
# so the profile reads the symbols from the kernel itself: /proc/kallsyms, booted once under
# QEMU with nokaslr (link addresses), kept next to the artifacts.  A profiling aid only:
# the tests do not need it.
def kallsyms(a, log=print):
    path = a.root / "kallsyms"
    if path.is_file():
        return path
    import re
    import select
    if shutil.which("qemu-system-i386") is None:
        raise LadderUnavailable("the profile's symbols need qemu-system-i386")
    log("ladder: reading /proc/kallsyms under QEMU")
    proc = subprocess.Popen(["qemu-system-i386", "-cpu", "pentium2", "-m", "128",
                             "-nographic", "-monitor", "none", "-serial", "stdio",
                             "-no-reboot", "-kernel", str(a.vmlinuz), "-initrd",
                             str(a.initramfs), "-append", APPEND + " nokaslr"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    out, sent, deadline = b"", False, time.time() + 600
    try:
        while time.time() < deadline:
            r, _, _ = select.select([proc.stdout], [], [], 10)
            data = os.read(proc.stdout.fileno(), 1 << 16) if r else b""
            if r and not data:
                break
            out += data
            if not sent and PROMPT.encode() in out:
                proc.stdin.write(b"cat /proc/kallsyms; echo KALLSYMS-$((1+1))\n")
                proc.stdin.flush()
                sent = True
            if b"\nKALLSYMS-2" in out:
                break
    finally:
        proc.kill()
        proc.wait()
    syms = re.findall(r"^([0-9a-f]{8}) ([A-Za-z]) (\S+)", out.decode("latin-1")
                      .replace("\r", ""), re.M)
    if len(syms) < 1000:
        raise LadderUnavailable("QEMU gave no /proc/kallsyms")
    path.write_text("".join("%s %s %s\n" % s for s in syms))
    return path


def load_symbols(path, offset=0):
    syms = []
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] in "tTwW":
            syms.append(((int(parts[0], 16) + offset) & 0xFFFFFFFF, parts[2]))
    syms.sort()
    return [s[0] for s in syms], [s[1] for s in syms]


def symbolize(sample, addrs, names):
    eip = sample[2]
    if eip < 0:
        return "<halt>"
    if len(sample) > 3 and not sample[3] & 0x80000000:
        # Before paging: firmware and the real-mode setup (PE=0), or the decompressor.
        return "<firmware, setup>" if not sample[3] & 1 else "<decompressor>"
    if eip < 0xC0000000:
        return "<user>"
    i = bisect.bisect_right(addrs, eip) - 1
    return names[i] if i >= 0 else "<?>"


# Lines of the kernel log (and the initramfs) that open the phases the report adds up.
PHASES = (("firmware, setup, decompressor", None),
          ("early kernel (to the console)", "Linux version"),
          ("start_kernel to calibrate_delay", "Memory: "),
          ("calibrate_delay", "Calibrating delay loop"),
          ("SMP/CPU bring-up to initcalls", "pid_max:"),
          ("initcalls (devices, subsystems)", "PCI: "),
          ("initramfs unpack", "Trying to unpack rootfs"),
          ("more initcalls (serial, i8042, ...)", "Freeing initrd memory"),
          ("free init memory, exec /init", "Freeing unused kernel image"),
          ("userspace to the prompt", MARKER),
          ("the command", PROMPT))


def phase_starts(session_text, stamps):
    """Each phase's first cycle: the cycle the first byte of its line left COM1."""
    starts = [0]
    pos = 0
    for _, needle in PHASES[1:]:
        i = session_text.find(needle, pos)
        if i < 0:
            starts.append(None)
            continue
        pos = i
        starts.append(stamps[i])
    return starts


def report_profile(sampler, session, symbols, offset, top=40, out=print):
    addrs, names = load_symbols(symbols, offset) if symbols else ([], [])
    counts, icounts = collections.Counter(), collections.Counter()
    prev_c, prev_i = session.c0, session.i0
    starts = phase_starts(session.text, session.serial.stamps)
    ph_c, ph_i = collections.Counter(), collections.Counter()
    bounds = [(c, n) for c, (n, _) in zip(starts, PHASES) if c is not None]
    for smp in sampler.samples:
        c, i = smp[0], smp[1]
        name = symbolize(smp, addrs, names)
        counts[name] += c - prev_c
        icounts[name] += i - prev_i
        phase = [n for b, n in bounds if b <= c][-1]
        ph_c[phase] += c - prev_c
        ph_i[phase] += i - prev_i
        prev_c, prev_i = c, i
    total_c = sum(counts.values()) or 1
    total_i = sum(icounts.values()) or 1
    out("phase (by the serial line that opens it)    G cycles      G instr")
    for name, _ in PHASES:
        if name in ph_c:
            out("  %-40s %8.3f %5.1f%% %8.3f %5.1f%%" % (
                name, ph_c[name] / 1e9, 100 * ph_c[name] / total_c,
                ph_i[name] / 1e9, 100 * ph_i[name] / total_i))
    out("function (sampled every %d cycles)        G cycles      G instr"
        % sampler.slice_cycles)
    for name, c in counts.most_common(top):
        out("  %-40s %8.3f %5.1f%% %8.3f %5.1f%%" % (
            name[:40], c / 1e9, 100 * c / total_c, icounts[name] / 1e9,
            100 * icounts[name] / total_i))
    # Busy-waits: who called the delay loops (the first caller outside them).
    waits = collections.Counter()
    prev_c = session.c0
    for smp in sampler.samples:
        name = symbolize(smp, addrs, names)
        if name in DELAY_FUNCTIONS and len(smp) > 4:
            caller = "?"
            for ret in smp[4]:
                caller = symbolize((0, 0, ret, 0x80000001), addrs, names)
                if caller not in DELAY_FUNCTIONS:
                    break
            waits[caller] += smp[0] - prev_c
        prev_c = smp[0]
    if waits:
        out("delay loops (%s) by caller             G cycles" % ", ".join(DELAY_FUNCTIONS))
        for name, c in waits.most_common(15):
            out("  %-40s %8.3f %5.1f%%" % (name[:40], c / 1e9, 100 * c / total_c))


DELAY_FUNCTIONS = ("delay_tsc", "delay_loop", "__const_udelay", "__udelay", "__ndelay",
                   "__delay")


def boot_rung(a, rung, max_cycles, memory=128 << 20, log=None):
    """Build the ladder's PC for `rung` ("direct" or "grub"), boot it to the shell and
    its answer; what happened, as plain data (JSON-able) for the tests."""
    from core.pc import build_pc, is_seabios
    pc = build_pc(config(a, rung, memory=memory))
    try:
        run = boot_to_shell(pc, max_cycles, log=log,
                            first=[("grub", GRUB_BOOTING)] if rung == "grub" else [])
        return {"rung": rung, "reached": run.reached, "reason": run.reason,
                "serial": run.serial, "milestones": [m.__dict__ for m in run.milestones],
                "bios": str(pc.bios_path),
                "seabios": is_seabios(Path(pc.bios_path).read_bytes()),
                "cpu": pc.machine.model.name, "memory": pc.config.memory,
                "cycles": pc.machine.clock.now, "instructions": pc.machine.cpu.icount}
    finally:
        pc.close()


# ===================================================================== CLI

def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m tests.ladder", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("build")
    for name in ("run", "profile"):
        r = sub.add_parser(name)
        r.add_argument("rung", choices=("direct", "grub"))
        r.add_argument("--max-cycles", type=float, default=30e9)
        r.add_argument("--slice", type=int, default=200_000)
        r.add_argument("--samples", help="write the raw samples (JSON) here")
        r.add_argument("--serial", help="write the serial output here")
        r.add_argument("--append", help="the kernel command line (direct boot; default %r)"
                       % APPEND)
    sub.choices["run"].add_argument("--json", help="write what happened (JSON) here")
    args = p.parse_args(argv)
    a = build()
    if args.cmd == "build":
        iso(a)
        print(json.dumps(a.describe(), indent=1))
        return 0
    if args.rung == "grub":
        iso(a)
    if args.cmd == "run" and args.json:
        result = boot_rung(a, args.rung, int(args.max_cycles),
                           log=lambda s: print(s, flush=True))
        Path(args.json).write_text(json.dumps(result))
        return 0 if result["reached"] else 1
    symbols = kallsyms(a) if args.cmd == "profile" else None
    from core.pc import build_pc
    cfg = config(a, args.rung)
    if args.append and args.rung == "direct":
        cfg.append = args.append
    pc = build_pc(cfg)
    sampler = Sampler(args.slice) if args.cmd == "profile" else None
    session = Session(pc, sample=sampler, log=lambda s: print(s, flush=True))
    run = boot_to_shell(pc, int(args.max_cycles), session=session)
    offset = 0
    if run.reached and sampler is not None:
        # KASLR moved the kernel: where did _text go in this boot?
        import re
        session.type("busybox grep -w _text /proc/kallsyms\n")
        end = pc.machine.clock.now + 2_000_000_000
        if session.await_text(" T _text", "symbols", end):
            m = re.findall(r"([0-9a-f]{8}) T _text", session.text)
            base = [l for l in Path(symbols).read_text().splitlines() if l.endswith(" T _text")]
            offset = int(m[-1], 16) - int(base[0].split()[0], 16)
            print("ladder: KASLR offset %#x" % offset)
    if args.serial:
        Path(args.serial).write_text(session.text)
    print("ladder: %s (%s)" % ("reached the shell and its answer" if run.reached
                               else "did NOT reach the answer", run.reason))
    if sampler is not None:
        if args.samples:
            Path(args.samples).write_text(json.dumps({
                "samples": sampler.samples, "stamps": session.serial.stamps,
                "text": session.text, "c0": session.c0, "i0": session.i0,
                "offset": offset, "slice": sampler.slice_cycles}))
        report_profile(sampler, session, symbols, offset)
    if not run.reached:
        print(run.serial[-3000:])
    return 0 if run.reached else 1


if __name__ == "__main__":
    sys.exit(main())
