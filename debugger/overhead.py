"""What the debugger costs the guest: a benchmark that prints figures (not a test).

    python -m debugger.overhead [--cpu MODEL] [--bios FILE | --snapshot FILE]
                                [--cycles N] [--repeat K] [--setup KEY]

Runs the bundled benchmark guest (core/guests/bench.rom: the demo's 16-bit code in a
loop), or the ROM given with --bios (such as ../shared/bench's 32-bit bench.rom, built by
`nasm -f bin -DITERS=1000 bench.asm`), or a PC from the snapshot given with --snapshot
(`cycle86 run ... --snapshot-at CYCLES FILE`: a real guest from where it was saved, such
as a Linux boot; docs/performance.md), for the same number of guest cycles under several
debugger set-ups and prints guest MIPS for each, best of K runs (each timed from the
guest's start to its end, the file complete when recording; building the machine and
attaching the debugger are not timed):

- no debugger at all (Machine.run);
- a Debugger attached with nothing armed (the hot loop tests one flag per instruction);
- an execution breakpoint armed on a page the guest never runs (every instruction goes
  through the checked path, but its page bit is clear);
- a write watchpoint on a page the guest never writes;
- an I/O catchpoint on a port the guest never uses;
- trace recording with the entries thrown away (the recorder alone);
- trace recording to a file, with its size in bytes per instruction.

Wall-clock figures move with whatever else the host is doing; for a noise-free comparison
count host instructions with `valgrind --tool=callgrind`, running one set-up once
(`--setup KEY --repeat 1`, KEY one of plain, attached, breakpoint, watchpoint, catch,
trace-null, trace) for two values of --cycles: the difference over the difference in guest
instructions is the marginal cost (docs/performance.md).
"""
import argparse
import os
import tempfile
import time

from core import bench


def _machine(cpu, bios=None):
    m, _port = bench.bench_machine(cpu=cpu, bios=bios)
    return m


def snapshot_machine(path):
    """A function that builds the PC saved in the snapshot `path` (cycle86 run
    --snapshot-at) as it was saved, its output ports' text discarded: its Machine.
    OSError or core.snapshot.SnapshotError (naming the file) if it cannot."""
    from core import pc as pcmod
    from core import snapshot
    state = snapshot.load(path)
    known = set(pcmod.PCConfig.keys())
    settings = {k: v for k, v in snapshot.pc_settings(state, path).items() if k in known}
    # (nothing is shown or logged)
    settings.update(input_log=None, screenshot=None, screen=False, max_cycles=None, e9="none")

    def build():
        pc = pcmod.build_pc(pcmod.PCConfig(**settings))
        snapshot.restore(pc, state, path)
        return pc.machine
    return build


def measure(cpu="80386", cycles=50_000_000, repeat=3, only=None, bios=None, snapshot=None):
    """[(label, MIPS, extra text)] for each set-up (or the one keyed `only`), best of
    `repeat` runs, on the bundled benchmark guest, the ROM file `bios` or the PC saved in
    the snapshot file `snapshot` (then `cpu` is the snapshot's).  A run is timed
    from the start of the guest (with recording: from trace_start) to its end (with
    recording: the file complete); building the machine and attaching the debugger are
    not (the first build in a process pays for imports and first touches of tens of
    milliseconds, which would flatter every set-up but the fastest)."""
    from debugger.controller import Debugger

    build = snapshot_machine(snapshot) if snapshot else None

    start = {}          # a machine's instruction count when it was built (a snapshot's)

    def machine():
        m = build() if build else _machine(cpu, bios)
        start[id(m)] = m.cpu.icount
        return m

    def executed(m):
        return m.cpu.icount - start[id(m)]

    # Each set-up: a function that builds what it needs (untimed) and returns the run to
    # time, which returns the machine.
    def plain():
        m = machine()

        def run():
            m.run(max_cycles=cycles)
            return m
        return run

    def attached(arm=None):
        def prepare():
            m = machine()
            d = Debugger(m)
            if arm is not None:
                arm(d)

            def run():
                d.cont(max_cycles=cycles)
                return m
            return run
        return prepare

    trace_sizes = []

    class Discard:
        """A TraceWriter that keeps nothing: what the recorder costs without the disk."""
        path = "(discarded)"

        def write(self, data):
            pass

        def close(self):
            pass

    def traced_null():
        m = machine()
        d = Debugger(m)

        def run():
            m.cpu.trace_start()
            d.trace = Discard()
            d.cont(max_cycles=cycles)
            d.trace_stop()
            return m
        return run

    # (the file is removed after the run is timed: deleting hundreds of megabytes is
    # the file system's time, not the recording's)
    tmp = tempfile.TemporaryDirectory()
    path = os.path.join(tmp.name, "t.c86t")

    def traced():
        m = machine()
        d = Debugger(m)

        def run():
            d.trace_start(path)
            d.cont(max_cycles=cycles)
            d.trace_stop()
            trace_sizes.append(os.path.getsize(path) / max(1, executed(m)))
            return m
        return run

    setups = [
        ("plain", "no debugger", plain),
        ("attached", "debugger attached, nothing armed", attached()),
        ("breakpoint", "breakpoint on an unused page",
         attached(lambda d: d.break_at("lin", 0x00300000))),
        ("watchpoint", "write watchpoint on an unused page",
         attached(lambda d: d.watch("lin", 0x00300000, 4, "w"))),
        ("catch", "I/O catchpoint on an unused port", attached(lambda d: d.catch_io(0x2F8))),
        ("trace-null", "trace recording, entries discarded", traced_null),
        ("trace", "trace recording to a file", traced),
    ]
    if only is not None:
        setups = [s for s in setups if s[0] == only]
        if not setups:
            raise SystemExit("python -m debugger.overhead: no set-up %r" % only)
    results = []
    for _key, label, prepare in setups:
        best = None
        for _ in range(repeat):
            run = prepare()
            t0 = time.perf_counter()
            m = run()
            wall = time.perf_counter() - t0
            if os.path.exists(path):
                os.unlink(path)
            mips = executed(m) / wall / 1e6
            del start[id(m)]
            best = mips if best is None else max(best, mips)
        extra = ""
        if prepare is traced and trace_sizes:
            extra = "%.1f bytes per instruction" % min(trace_sizes)
        results.append((label, best, extra))
    tmp.cleanup()
    return results


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m debugger.overhead", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cpu", default="80386", help="CPU model (default 80386)")
    p.add_argument("--bios", metavar="FILE",
                   help="a ROM to run as the BIOS instead of core/guests/bench.rom")
    p.add_argument("--snapshot", metavar="FILE",
                   help="run the PC saved in this snapshot (cycle86 run --snapshot-at) "
                        "from where it was saved instead")
    p.add_argument("--cycles", type=int, default=50_000_000,
                   help="guest cycles per run (default 50,000,000)")
    p.add_argument("--repeat", type=int, default=3, help="runs per set-up, best kept (3)")
    p.add_argument("--setup", metavar="KEY", help="run only this set-up (for callgrind)")
    args = p.parse_args(argv)
    if args.bios and args.snapshot:
        p.error("--bios and --snapshot: give one guest")
    from core.pc import PlatformError
    from core.snapshot import SnapshotError
    try:
        results = measure(args.cpu, args.cycles, args.repeat, args.setup, args.bios,
                          args.snapshot)
    except (bench.GuestError, OSError, SnapshotError, PlatformError) as e:
        raise SystemExit("python -m debugger.overhead: %s" % e)
    base = results[0][1]
    if args.snapshot:
        guest = "the snapshot %s" % args.snapshot
    else:
        guest = "%s, %s" % (args.cpu, args.bios or "core/guests/bench.rom")
    print("debugger overhead, %s, %s guest cycles per run, best of %d"
          % (guest, format(args.cycles, ","), args.repeat))
    for label, mips, extra in results:
        print("  %-38s %7.2f MIPS  %+6.1f%%  %s"
              % (label, mips, (mips / base - 1) * 100, extra))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
