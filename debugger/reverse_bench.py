"""What reverse execution costs: `python -m debugger.reverse_bench [options]`.

Runs a PC guest for a number of instructions through the debugger twice, without and with
recording for reverse execution (debugger/reverse.py), and prints:

- the recording overhead: wall time and MIPS of both runs;
- the memory the snapshots hold at the end, their number, and the time spent taking them;
- the latency of reverse-stepi deep into the run (the first, then consecutive ones), and
  of a snapshot capture and restore.

It is a measurement, not a test: nothing is checked against a figure.  The default guest
is the bundled benchmark ROM (the demo's work in an endless loop) as the BIOS of the `pc`
machine; --bios and --fda run another (a floppy boots through SeaBIOS).
"""
import argparse
import time
from pathlib import Path


def build(args):
    from core import pc as pcmod
    if args.fda:
        config = pcmod.PCConfig(machine="pc", fda=args.fda, memory=args.memory, e9="none")
    else:
        bios = args.bios or str(Path(__file__).resolve().parent.parent / "core" / "guests"
                                / "bench.rom")
        config = pcmod.PCConfig(machine="pc", bios=bios, bios_only=True, memory=args.memory,
                                e9="none")
    return pcmod.build_pc(config)


def run(args, record):
    from debugger.controller import Debugger
    pc = build(args)
    dbg = Debugger(pc)
    if record:
        dbg.record(budget=args.budget)
    cpu = pc.machine.cpu
    t0, c0 = time.perf_counter(), time.process_time()
    while cpu.icount < args.instructions:
        ev = dbg.cont(max_cycles=200_000_000)
        if ev.reason not in ("budget",):
            print("the guest stopped: %s" % ev.message)
            break
    return pc, dbg, time.perf_counter() - t0, time.process_time() - c0


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m debugger.reverse_bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--instructions", type=float, default=1e9,
                   help="guest instructions to run (default 1e9)")
    p.add_argument("--bios", help="a ROM to run as the BIOS (default core/guests/bench.rom)")
    p.add_argument("--fda", help="boot this floppy through SeaBIOS instead")
    p.add_argument("--memory", type=int, default=32 << 20)
    p.add_argument("--budget", type=int, default=1 << 30, help="snapshot memory budget")
    p.add_argument("--steps", type=int, default=5, help="reverse-stepi calls to time")
    args = p.parse_args(argv)
    args.instructions = int(args.instructions)

    _, plain_dbg, plain, plain_cpu = run(args, record=False)
    plain_n = plain_dbg.cpu.icount
    print("without recording: %d instructions in %.2f s (%.2f s of CPU), %.1f MIPS"
          % (plain_n, plain, plain_cpu, plain_n / plain / 1e6))
    pc, dbg, wall, cpu_time = run(args, record=True)
    n = dbg.cpu.icount
    h = dbg.history
    print("with recording:    %d instructions in %.2f s (%.2f s of CPU), %.1f MIPS; "
          "overhead %.1f%% of wall time, %.1f%% of CPU time"
          % (n, wall, cpu_time, n / wall / 1e6,
             100.0 * (wall / n) / (plain / plain_n) - 100.0,
             100.0 * (cpu_time / n) / (plain_cpu / plain_n) - 100.0))
    print("snapshots: %d kept, %d taken, %.2f s taking them (%.1f ms each, %.1f%% of the "
          "run); memory %.1f MiB of %.0f MiB"
          % (len(h.snapshots), h.captures, h.capture_time,
             1e3 * h.capture_time / max(1, h.captures), 100.0 * h.capture_time / wall,
             h.memory() / 2**20, h.budget / 2**20))
    from core import snapshot
    t0 = time.perf_counter()
    state = snapshot.capture(pc)
    t1 = time.perf_counter()
    snapshot.restore(pc, state)
    t2 = time.perf_counter()
    print("one snapshot: capture %.1f ms, restore %.1f ms" % ((t1 - t0) * 1e3, (t2 - t1) * 1e3))
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        dbg.reverse_step()
        times.append(time.perf_counter() - t0)
    print("reverse-stepi at instruction %d: first %.3f s, then %s s"
          % (dbg.cpu.icount, times[0], ", ".join("%.3f" % t for t in times[1:])))
    t0 = time.perf_counter()
    dbg.step()
    print("stepi after it: %.4f s" % (time.perf_counter() - t0))


if __name__ == "__main__":
    main()
