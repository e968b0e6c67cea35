"""What the 8086/8088 bus model costs: the benchmark guest timed clock by clock and by tables.

``python -m core.bench_biu [--seconds S]`` runs core/guests/bench.rom (the demo's sieve,
recursion, CRC, string moves and decimal printing in an endless loop: ordinary 8086 code)
on an 8086 and an 8088, each with the bus model (their default) and with the documented
tables (``bus_timing=False``), and prints MIPS, clocks per instruction and how fast the
guest runs against the real chip at the model's clock (4.77 MHz: core/models.py).
Figures, not a test: they depend on the host.
"""
import argparse
import sys

from core.bench import BENCH_ROM, DEFAULT_MEMORY, load_bios, run_machine


def measure(cpu, bus_timing, seconds):
    """One run of the benchmark guest for `seconds` of host time; a core.bench.RunResult."""
    from core.machine import Machine
    from peripherals.debugport import DebugPort
    m = Machine(cpu=cpu, memory=DEFAULT_MEMORY, bus_timing=bus_timing)
    load_bios(m, BENCH_ROM.read_bytes())
    port = DebugPort(m, echo=None)
    return run_machine(m, port, seconds=seconds)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m core.bench_biu", description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0,
                    help="host seconds per run (default 5)")
    args = ap.parse_args(argv)
    print("bench.rom, %.0f s per run" % args.seconds)
    print("%-6s %-7s %8s %12s %14s" % ("cpu", "timing", "MIPS", "clocks/insn", "x real chip"))
    for cpu in ("8086", "8088"):
        for bus_timing in (True, False):
            r = measure(cpu, bus_timing, args.seconds)
            print("%-6s %-7s %8.2f %12.2f %14.1f" % (
                cpu, "bus" if bus_timing else "tables", r.mips,
                r.cycles / r.instructions if r.instructions else 0.0,
                r.guest_seconds / r.wall if r.wall else 0.0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
