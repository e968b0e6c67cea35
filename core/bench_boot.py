"""Firmware POST to the boot sector: how long each emulator takes to boot a PC (issue 11).

``python -m core.bench_boot`` boots the same 1.44 MB floppy under cycle86 (this checkout),
Bochs and QEMU with each system BIOS Debian packages (SeaBIOS, Bochs's BIOS-bochs-latest),
and prints wall and CPU seconds of the whole process side by side.  The floppy's boot sector
does nothing but stop the emulator (the Bochs shutdown port 0x8900, then isa-debug-exit at
0xF4 for QEMU), so the figure is the firmware's power-on self test, the VGA BIOS and the
boot itself, start-up of the emulator included.

The emulators do not always do the same work: SeaBIOS shows its boot menu and waits 2.5 s
of guest time for a key where it finds no fw_cfg (Bochs), and skips it where it does
(cycle86's `pc` machine, QEMU).  cycle86's own guest instruction and cycle counts are
printed beside its times so that a change in the core can be told from a change in work.

Figures, not a test: nothing asserts on them (docs/performance.md).
"""
import functools
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from core.pc import FIRMWARE_NAMES as FIRMWARE, VGABIOS_NAMES

ROOT = Path(__file__).resolve().parent.parent
VGABIOS = VGABIOS_NAMES["vgabios"]
QEMU = "/usr/libexec/qemu-system-i386"

# The boot sector: real mode at 0000:7C00, DS = 0.  "Shutdown" to port 0x8900 ends Bochs
# (and cycle86), a byte to isa-debug-exit ends QEMU, and HLT with interrupts off holds any
# other emulator still.
BOOT_ASM = """\
bits 16
org 0x7c00
        cli
        xor ax, ax
        mov ds, ax
        mov dx, 0x8900
        mov si, msg
next:   lodsb
        or al, al
        jz stop
        out dx, al
        jmp next
stop:   mov al, 0
        out 0xf4, al
halt:   hlt
        jmp halt
msg:    db "Shutdown", 0
        times 510-($-$$) db 0
        dw 0xaa55
"""

BOCHSRC = """\
config_interface: textconfig
display_library: rfb, options="timeout=0"
romimage: file={bios}
vgaromimage: file={vgabios}
memory: guest=32, host=32
cpu: count=1, ips=66666667, reset_on_triple_fault=0
clock: sync=none, time0=1
floppya: 1_44={floppy}, status=inserted
boot: floppy
log: {log}
panic: action=fatal
error: action=report
info: action=report
debug: action=ignore
speaker: enabled=0
plugin_ctrl: biosdev=0, iodebug=0, parallel=0, gameport=0, extfpuirq=0, speaker=0, serial=0
"""


def make_floppy(folder):
    """A 1.44 MB floppy image whose boot sector stops the emulator; its path."""
    asm = Path(folder) / "boot.asm"
    asm.write_text(BOOT_ASM)
    sector = Path(folder) / "boot.bin"
    subprocess.run(["nasm", "-f", "bin", "-o", str(sector), str(asm)], check=True)
    floppy = Path(folder) / "floppy.img"
    floppy.write_bytes(sector.read_bytes().ljust(1474560, b"\0"))
    return floppy


def timed(cmd, env=None, cwd=None, timeout=600):
    """Run `cmd`; (wall seconds, CPU seconds of the child, its exit status, stdout+stderr)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL, timeout=timeout,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          errors="replace")
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.returncode, done.stdout


def run_cycle86(bios, floppy, folder, checkout=ROOT):
    env = dict(os.environ, PYTHONPATH=str(checkout))
    wall, cpu, rc, out = timed([sys.executable, "-m", "core.cli", "run", "--bios", bios,
                                "--fda", str(floppy), "--e9", "none", "--stats"], env=env,
                               cwd=folder)      # not here: -m puts the working folder first
    if "shutdown port" not in out:
        return None, "did not reach the boot sector (exit %d): %s" % (rc, out.strip()[-200:])
    m = re.search(r"([\d,]+) instructions, ([\d,]+) cycles", out)
    extra = ("%s instructions, %s cycles" % m.groups()) if m else ""
    return (wall, cpu), extra


def run_bochs(bios, floppy, folder):
    if not shutil.which("bochs"):
        return None, "not installed"
    log = Path(folder) / "bochs.log"
    rc_file = Path(folder) / "bochs.rc"
    rc_file.write_text("continue\nquit\n")
    conf = Path(folder) / "bochsrc"
    conf.write_text(BOCHSRC.format(bios=FIRMWARE[bios], vgabios=VGABIOS, floppy=floppy,
                                   log=log))
    wall, cpu, rc, out = timed(["bochs", "-q", "-f", str(conf), "-rc", str(rc_file)],
                               cwd=folder)
    text = log.read_text(errors="replace") if log.exists() else ""
    m = re.search(r"^(\d+)p\[UNMAP \] >>PANIC<< Shutdown port", text, re.M)
    if not m:
        return None, "did not reach the boot sector (see %s)" % log
    return (wall, cpu), "%s ticks" % format(int(m.group(1)), ",")


def run_qemu(bios, floppy, folder):
    exe = QEMU if os.path.exists(QEMU) else shutil.which("qemu-system-i386")
    if not exe:
        return None, "not installed"
    if bios != "seabios":
        return None, "QEMU runs SeaBIOS only"
    wall, cpu, rc, out = timed([exe, "-bios", str(FIRMWARE[bios]), "-m", "32", "-display",
                                "none", "-drive", "if=floppy,format=raw,readonly=on,file=%s"
                                % floppy, "-boot", "a", "-accel", "tcg",
                                "-device", "isa-debug-exit,iobase=0xf4,iosize=4"])
    if rc != 1:                      # isa-debug-exit with 0: (0 << 1) | 1
        return None, "did not reach the boot sector (exit %d): %s" % (rc, out.strip()[-200:])
    return (wall, cpu), ""


PEERS = {"cycle86": run_cycle86, "bochs": run_bochs, "qemu": run_qemu}


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(
        prog="python -m core.bench_boot",
        description="Boot a floppy whose boot sector stops the emulator, under cycle86 and "
                    "the installed peers, with SeaBIOS and BIOS-bochs-latest: wall and CPU "
                    "seconds of the whole process (fastest of --runs). Figures, not a test.")
    ap.add_argument("--runs", type=int, default=3, help="runs of each; the fastest counts (3)")
    ap.add_argument("--bios", default="seabios,bochs-latest",
                    help="firmware to boot, comma-separated (seabios,bochs-latest)")
    ap.add_argument("--peers", default="cycle86 bochs qemu", help='peers to run')
    ap.add_argument("--checkout", default=None, metavar="DIR",
                    help="run cycle86 from this checkout, built in place (default: this one), "
                         "to compare builds of the core")
    args = ap.parse_args(argv)
    if not shutil.which("nasm"):
        print("core.bench_boot: nasm is needed to build the boot sector", file=sys.stderr)
        return 1
    bioses = [b for b in args.bios.split(",") if b]
    for b in bioses:
        if b not in FIRMWARE:
            print("core.bench_boot: --bios %s: not one of %s" % (b, ", ".join(FIRMWARE)),
                  file=sys.stderr)
            return 2
    for p in args.peers.split():
        if p not in PEERS:
            print("core.bench_boot: --peers %s: not one of %s" % (p, ", ".join(PEERS)),
                  file=sys.stderr)
            return 2
    print("POST to the boot sector, fastest of %d runs; seconds of the whole process" % args.runs)
    print("%-14s %-8s %8s %8s  %s" % ("bios", "peer", "wall_s", "cpu_s", "work"))
    runners = dict(PEERS)
    if args.checkout:
        runners["cycle86"] = functools.partial(run_cycle86, checkout=args.checkout)
    with tempfile.TemporaryDirectory() as folder:
        floppy = make_floppy(folder)
        for bios in bioses:
            for peer in args.peers.split():
                best, note = None, ""
                for _ in range(args.runs):
                    times, note = runners[peer](bios, floppy, folder)
                    if times is None:
                        break
                    best = times if best is None or times[0] < best[0] else best
                if best is None:
                    print("%-14s %-8s %8s %8s  %s" % (bios, peer, "-", "-", note))
                else:
                    print("%-14s %-8s %8.3f %8.3f  %s" % (bios, peer, best[0], best[1], note))
    return 0


if __name__ == "__main__":
    sys.exit(main())
