"""Running a whole guest from a BIOS ROM image and timing it: the demo and the benchmark.

A guest here is a ROM image loaded the way a PC's BIOS is: at the top of the first MiB, and
again at the top of the CPU's address space where the 286 and later fetch their first
instruction.  The bundled guests (core/guests/) print to port 0xE9 and stop themselves
through isa-debug-exit, so the debug port device is always attached.

The benchmark is a script that prints figures, not a timed test: the numbers depend on the
host, and nothing asserts on them.

``python -m core.bench`` compares cycle86 with the peer emulators installed (Bochs, QEMU) on
the shared benchmark ROM (../shared/bench/bench.asm, 32-bit protected mode), with paging off
and on, through ../shared/bench/peers.sh; docs/performance.md has the figures and how to
profile.
"""
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

GUESTS = Path(__file__).resolve().parent / "guests"
DEMO_ROM = GUESTS / "demo.rom"
BENCH_ROM = GUESTS / "bench.rom"

# The demo guest stops itself with isa-debug-exit value 0, which QEMU's convention turns
# into exit status (0 << 1) | 1.
DEMO_EXIT_STATUS = 1
# Enough for the demo on the slowest model many times over; a guest still running after
# this is looping where it should not.
DEMO_MAX_CYCLES = 200_000_000

DEFAULT_MEMORY = 16 << 20
LOW_BIOS_LIMIT = 128 << 10           # what fits below 1 MiB: 0xE0000-0xFFFFF


class GuestError(Exception):
    """A guest image that cannot be loaded; the message is one line naming the problem."""


def load_bios(machine, image):
    """Map `image` (bytes) as the system BIOS ROM of `machine`.

    The whole image ends at the top of the CPU's physical address space (4 GiB on the 386,
    16 MiB on the 286 whose address bus has 24 lines), where the reset fetch comes from;
    its last 128 KiB at most also end at 1 MiB, where real-mode code runs it after the
    first far jump.  On the 8086 and 80186 those two places are the same.
    """
    size = len(image)
    if size == 0:
        raise GuestError("the ROM image is empty")
    if size % 4096:
        raise GuestError("the ROM image is %d bytes, not a whole number of 4 KiB pages" % size)
    bus = machine.bus
    top = 1 << bus.address_bits
    if size > min(top // 2, 16 << 20):
        raise GuestError("the ROM image is %d bytes, too large for a BIOS (at most %d)"
                         % (size, min(top // 2, 16 << 20)))
    low = image[-LOW_BIOS_LIMIT:]
    bus.map_rom((1 << 20) - len(low), low)
    if top > (1 << 20):
        bus.map_rom(top - size, image)


def read_rom(path):
    """The bytes of a ROM file, or a GuestError naming what went wrong."""
    path = Path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise GuestError("%s: no such file" % path) from None
    except IsADirectoryError:
        raise GuestError("%s: is a directory, not a ROM image" % path) from None
    except OSError as e:
        raise GuestError("%s: cannot read it (%s)" % (path, e.strerror or e)) from None


@dataclass
class RunResult:
    """What one guest run did, and how fast the host ran it."""
    cpu: str
    reason: str                      # Machine.run's reason, or "time" when the host stopped it
    exit_status: object              # from the debug port, or None if the guest never asked
    stop_reason: object              # the debug port's description of that request
    output: bytes                    # everything the guest wrote to port 0xE9
    instructions: int
    cycles: int
    wall: float                      # host seconds spent inside Machine.run
    frequency: int                   # the modelled CPU clock, for guest time
    extra: dict = field(default_factory=dict)

    @property
    def mips(self):
        return self.instructions / self.wall / 1e6 if self.wall > 0 else 0.0

    @property
    def cycles_per_second(self):
        return self.cycles / self.wall if self.wall > 0 else 0.0

    @property
    def guest_seconds(self):
        return self.cycles / self.frequency if self.frequency else 0.0


def make_machine(image, cpu="80386", memory=DEFAULT_MEMORY, echo=None):
    """A Machine of model `cpu` with `image` as its BIOS and the debug ports attached."""
    from core.machine import Machine
    from peripherals.debugport import DebugPort

    if memory >= 1 << 32:
        raise GuestError("%d bytes of memory is more than a 32-bit bus can address" % memory)
    try:
        m = Machine(cpu=cpu, memory=memory)
    except ValueError as e:          # a model or memory size the machine cannot be built with
        raise GuestError(str(e)) from None
    load_bios(m, image)
    port = DebugPort(m, echo=echo)
    return m, port


def run_machine(m, port, seconds=None, max_cycles=None):
    """Run until the guest stops, or for `seconds` of host time, or `max_cycles` cycles.

    The machine runs in slices of about a twentieth of a second, so the host checks the time
    between slices and never inside the CPU loop.
    """
    start_icount = m.cpu.icount
    start_cycles = m.clock.now
    slice_cycles = 200_000
    wall = 0.0
    reason = "budget"
    while True:
        budget = slice_cycles
        if max_cycles is not None:
            left = max_cycles - (m.clock.now - start_cycles)
            if left <= 0:
                break
            budget = min(budget, left)
        t0 = time.perf_counter()
        reason = m.run(max_cycles=budget)
        dt = time.perf_counter() - t0
        wall += dt
        if reason != "budget":
            break
        if seconds is not None and wall >= seconds:
            reason = "time"
            break
        if dt > 0:
            # Aim the next slice at 50 ms, changing by at most 4x so one odd slice (a page
            # of slow MMIO, a host hiccup) does not throw the size off.
            target = int(budget * 0.05 / dt)
            slice_cycles = max(10_000, min(target, slice_cycles * 4, 1 << 40))
    return RunResult(
        cpu=m.model.name,
        reason=reason,
        exit_status=port.exit_status,
        stop_reason=port.stop_reason,
        output=port.output,
        instructions=m.cpu.icount - start_icount,
        cycles=m.clock.now - start_cycles,
        wall=wall,
        frequency=getattr(m.clock, "frequency", 0),
    )


def run_demo(cpu="80386", echo=None, memory=DEFAULT_MEMORY):
    """Run the bundled demo guest to its end (see core/guests/demo.asm)."""
    m, port = make_machine(DEMO_ROM.read_bytes(), cpu=cpu, memory=memory, echo=echo)
    return run_machine(m, port, max_cycles=DEMO_MAX_CYCLES)


def bench(cpu="80386", seconds=5.0, bios=None, memory=DEFAULT_MEMORY, echo=None):
    """Run a CPU-bound guest for `seconds` of host time and measure it.

    Without `bios`, the guest is core/guests/bench.rom: the demo's work in an endless loop.
    Each round prints the same results, so ``extra["rounds"]`` counts finished rounds and
    ``extra["consistent"]`` says whether they all printed the same text (a CPU that gets
    faster by being wrong shows up here).  With `bios` (a path), that ROM image runs instead
    and may stop itself sooner.
    """
    m, port = bench_machine(cpu=cpu, bios=bios, memory=memory, echo=echo)
    return run_bench(m, port, seconds, bundled=bios is None)


def bench_machine(cpu="80386", bios=None, memory=DEFAULT_MEMORY, echo=None):
    """The machine `bench` runs, built (and any problem with `bios` raised) before timing."""
    if bios is None:
        return make_machine(BENCH_ROM.read_bytes(), cpu=cpu, memory=memory, echo=echo)
    try:
        return make_machine(read_rom(bios), cpu=cpu, memory=memory, echo=echo)
    except GuestError as e:
        message = str(e)
        if not message.startswith(str(bios)):
            message = "%s: %s" % (bios, message)
        raise GuestError(message) from None


def run_bench(m, port, seconds, bundled=True):
    """The timed part of `bench`; `bundled` says the guest is bench.rom (count its rounds)."""
    result = run_machine(m, port, seconds=seconds)
    if bundled:
        rounds = _rounds(result.output)
        result.extra["rounds"] = len(rounds)
        result.extra["consistent"] = len(set(rounds)) <= 1
    return result


def _rounds(output):
    """The text of each finished round of the benchmark guest, its closing "done" included."""
    body = output.split(b"\n", 1)[1] if b"\n" in output else b""
    return [r + b"done\n" for r in body.split(b"done\n")[:-1]]


# ------------------------------------------------------------------ peers (python -m core.bench)
ROOT = Path(__file__).resolve().parent.parent
SHARED_BENCH = ROOT.parent / "shared" / "bench"


def installed_peers():
    """The peers peers.sh can run that are on this host, cycle86 first."""
    peers = ["cycle86"]
    if shutil.which("bochs"):
        peers.append("bochs")
    if os.path.exists("/usr/libexec/qemu-system-i386") or shutil.which("qemu-system-i386"):
        peers.append("qemu")
    return peers


def peer_mips(paging, peers, small=10, large=300, runs=1, bench_dir=SHARED_BENCH):
    """Run peers.sh once: {peer: (MIPS, marginal MIPS)} for bench.rom at `large` iterations.

    cycle86 runs from this checkout (its directory first on PYTHONPATH), as
    `cycle86 run --memory 32M --e9 stdout --bios bench.rom`.  Marginal MIPS take the
    start-up out: (N_large - N_small) / (t_large - t_small)."""
    script = Path(bench_dir) / "peers.sh"
    if not script.exists():
        raise GuestError("%s: not found (the shared benchmark sits beside the checkout)" % script)
    env = dict(os.environ, PAGING=str(paging), PEERS=" ".join(peers),
               CYCLE86="env PYTHONPATH=%s %s -m core.cli run --memory 32M --e9 stdout --bios"
                       % (ROOT, sys.executable))
    done = subprocess.run([str(script), str(small), str(large), str(runs)], env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise GuestError("peers.sh failed: %s" % (done.stderr.strip() or done.stdout.strip()))
    figures = {}
    for line in done.stdout.splitlines()[1:]:
        f = line.split()
        if len(f) == 8:
            figures[f[0]] = (float(f[5]), float(f[7]))
    return figures


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(
        prog="python -m core.bench",
        description="bench.rom (../shared/bench) under cycle86 and the installed peers, "
                    "paging off and on: marginal MIPS side by side. Figures, not a test.")
    ap.add_argument("--small", type=int, default=10, help="iterations of the short run (10)")
    ap.add_argument("--large", type=int, default=300, help="iterations of the long run (300)")
    ap.add_argument("--runs", type=int, default=1, help="runs per size; the fastest counts (1)")
    ap.add_argument("--peers", default=None,
                    help='peers to run, e.g. "cycle86 bochs" (default: cycle86 and those installed)')
    args = ap.parse_args(argv)
    peers = args.peers.split() if args.peers else installed_peers()
    try:
        table = {p: peer_mips(p, peers, args.small, args.large, args.runs) for p in (0, 1)}
    except GuestError as e:
        print("core.bench: %s" % e, file=sys.stderr)
        return 1
    print("bench.rom, %d and %d iterations, fastest of %d; marginal MIPS (whole-process MIPS)"
          % (args.small, args.large, args.runs))
    print("%-12s %18s %18s %12s" % ("peer", "paging off", "paging on", "paging cost"))
    for peer in peers:
        off, on = table[0].get(peer), table[1].get(peer)
        if off is None or on is None:
            continue
        cost = "%+.0f%%" % (100.0 * (off[1] / on[1] - 1)) if on[1] else "-"
        print("%-12s %9.1f (%6.1f) %9.1f (%6.1f) %12s" % (peer, off[1], off[0], on[1], on[0], cost))
    if "bochs" in table[0] and "cycle86" in table[0]:
        print("cycle86 / bochs: %.2f paging off, %.2f paging on" % tuple(
            table[p]["cycle86"][1] / table[p]["bochs"][1] if table[p]["bochs"][1] else 0.0
            for p in (0, 1)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
