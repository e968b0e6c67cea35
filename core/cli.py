"""The `cycle86` command line: one subcommand per job, each loaded only when it runs.

Every command is an entry in COMMANDS: a name, a one-line help and a loader that returns
``(add_subparser, main)``.  ``add_subparser(subparsers)`` adds the command's parser and
``main(args)`` runs it and returns the exit status.  Only the command being run is loaded, so
a command whose module is missing or broken cannot take the others down, and ``cycle86 -h``
stays quick.

Exit status: 0 success, 1 the guest or the checks failed, 2 a usage, file or setup error.
Errors are one line on stderr naming what was wrong; a traceback is shown only when the
environment variable CYCLE86_TRACEBACK is set (for people debugging cycle86 itself).
"""
import argparse
import importlib
import os
import sys
from typing import Callable, NamedTuple

PROG = "cycle86"


class CliError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line errors: the message and where to find the usage."""

    def error(self, message):
        sys.stderr.write("%s: %s (see '%s -h')\n" % (self.prog, message, self.prog))
        sys.exit(2)


# ------------------------------------------------------------------ argument types
# Each raises ArgumentTypeError with a message that names the bad value, which argparse
# prefixes with the option's name.

def cpu_model(text):
    from core.models import get_model
    try:
        return get_model(text).name
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def fpu_choice(text):
    """A coprocessor name (8087, 287, 387, none); whether it fits the CPU is checked when
    the machine is built, where the model is known."""
    from core.models import coprocessor_name
    try:
        return coprocessor_name(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def positive_seconds(text):
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError("%r is not a positive number of seconds" % text)
    return value


_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def memory_size(text):
    t = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = t[-1:] if t[-1:] in ("K", "M", "G") else ""
    number = t[: len(t) - len(unit)]
    if not number.isdigit() or int(number) == 0:
        raise argparse.ArgumentTypeError(
            "%r is not a memory size (a number of bytes, or with K, M or G: 640K, 16M)" % text)
    return int(number) * _SIZE_UNITS[unit]


def _human_size(n):
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale and n % scale == 0:
            return "%d %s" % (n // scale, unit)
    return "%d bytes" % n


# ------------------------------------------------------------------ demo

def _add_demo(subparsers):
    p = subparsers.add_parser(
        "demo", help=COMMAND_HELP["demo"],
        description="Run the bundled demo guest (core/guests/demo.asm): it detects the CPU, "
                    "runs a sieve, a recursive fibonacci, CRC-32 and string moves, prints the "
                    "results to port 0xE9 and stops itself. Then print the instruction count, "
                    "the guest cycles and the host speed.")
    p.add_argument("--cpu", type=cpu_model, default="80386", metavar="MODEL",
                   help="CPU model: 8088, 8086, 80186, 80286 or 80386 (default 80386)")
    return p


def _demo_main(args):
    from core import bench
    from peripherals.debugport import file_sink

    echo = file_sink(sys.stdout)
    try:
        result = bench.run_demo(cpu=args.cpu, echo=echo)
    except bench.GuestError as e:
        raise CliError(str(e)) from None
    _check_echo(echo)
    if not result.output.endswith(b"\n"):
        print()
    print("---")
    ok = result.reason == "stop" and result.exit_status == bench.DEMO_EXIT_STATUS
    if result.reason == "stop":
        print("guest stopped: %s (exit status %d)" % (result.stop_reason, result.exit_status))
    else:
        print("guest did not stop itself: %s" % _describe_reason(result.reason))
    _print_figures(result)
    if not ok:
        sys.stderr.write("%s demo: the demo guest failed (%s)\n" % (PROG, _failure(result)))
        return 1
    return 0


def _check_echo(echo):
    """Report a failed write of the guest's output (a closed pipe ends quietly)."""
    if echo is None or echo.failed is None:
        sys.stdout.flush()
        return
    if isinstance(echo.failed, BrokenPipeError):
        raise echo.failed
    raise CliError("cannot write the guest's output: %s" % echo.failed)


def _failure(result):
    if result.reason != "stop":
        return _describe_reason(result.reason)
    return "it reported %s" % result.stop_reason


def _describe_reason(reason):
    return {
        "halt": "the CPU halted with nothing to wake it",
        "shutdown": "the CPU shut down (triple fault)",
        "budget": "it was still running when its cycle budget ran out",
        "time": "the time was up",
    }.get(reason, reason)


def _print_figures(result):
    seconds = result.guest_seconds
    guest_time = (" = %.3f s at %g MHz" % (seconds, result.frequency / 1e6)
                  if result.frequency else "")
    print("cpu %s: %s instructions, %s cycles%s"
          % (result.cpu, format(result.instructions, ","), format(result.cycles, ","),
             guest_time))
    print("host: %.3f s, %.2f MIPS, %.2f M cycles/s"
          % (result.wall, result.mips, result.cycles_per_second / 1e6))


# ------------------------------------------------------------------ bench

def _add_bench(subparsers):
    p = subparsers.add_parser(
        "bench", help=COMMAND_HELP["bench"],
        description="Run a CPU-bound guest for a while and print guest instructions per "
                    "second (MIPS) and guest cycles per second. The default guest is "
                    "core/guests/bench.rom, the demo's work in an endless loop. This prints "
                    "figures; it checks nothing about speed.")
    p.add_argument("--cpu", type=cpu_model, default="80386", metavar="MODEL",
                   help="CPU model: 8088, 8086, 80186, 80286 or 80386 (default 80386)")
    p.add_argument("--seconds", type=positive_seconds, default=5.0, metavar="N",
                   help="host seconds to run (default 5); a guest may stop sooner")
    p.add_argument("--bios", metavar="FILE",
                   help="run this ROM image instead, loaded as the BIOS at the top of the "
                        "first MiB and of the address space (its port 0xE9 output is shown)")
    p.add_argument("--memory", type=memory_size, default=None, metavar="SIZE",
                   help="guest RAM, e.g. 640K, 16M (default 16M)")
    return p


def _bench_main(args):
    from core import bench
    from peripherals.debugport import file_sink

    memory = args.memory or bench.DEFAULT_MEMORY
    if args.bios is not None:
        image_name = args.bios
        echo = file_sink(sys.stdout)
    else:
        image_name = "bundled benchmark (core/guests/bench.rom)"
        echo = None
    try:
        m, port = bench.bench_machine(cpu=args.cpu, bios=args.bios, memory=memory, echo=echo)
    except bench.GuestError as e:
        raise CliError(str(e)) from None
    print("guest: %s, cpu %s, %s RAM, up to %g s" % (image_name, args.cpu, _human_size(memory),
                                                     args.seconds))
    sys.stdout.flush()
    result = bench.run_bench(m, port, args.seconds, bundled=args.bios is None)
    _check_echo(echo)
    if result.output and not result.output.endswith(b"\n") and args.bios is not None:
        print()
    if result.reason == "time":
        print("ran %.2f s" % result.wall, end="")
    elif result.reason == "stop":
        print("guest stopped after %.2f s: %s (exit status %d)"
              % (result.wall, result.stop_reason, result.exit_status), end="")
    else:
        print("guest ended after %.2f s: %s" % (result.wall, _describe_reason(result.reason)),
              end="")
    if "rounds" in result.extra:
        print(", %d rounds of the benchmark loop" % result.extra["rounds"], end="")
    print()
    _print_figures(result)
    if args.bios is None and not result.extra["consistent"]:
        sys.stderr.write("%s bench: the rounds printed different results, so the CPU computed "
                         "something wrong\n" % PROG)
        return 1
    if args.bios is None and result.reason != "time":
        sys.stderr.write("%s bench: the benchmark guest ended early: %s\n"
                         % (PROG, _failure(result)))
        return 1
    return 0


# ------------------------------------------------------------------ run

RUN_DESCRIPTION = """\
Run a PC: the CPU, RAM, the PC/AT chips and firmware, with the given disks. The machine is
`pc` (i440FX + PIIX3 PCI, fw_cfg; default) or `isapc` (ISA only). The BIOS and VGA BIOS are
found where Debian's bochsbios, vgabios and seabios packages install them unless given.
A TOML machine file (NAME or PATH.toml) may hold the same settings; options given here
override it. Exit status: the guest's isa-debug-exit status ((value << 1) | 1), 0 on the
Bochs shutdown port or a clean stop, 4 on a triple fault, 124 when --max-cycles ran out,
2 for a usage, file or firmware error."""


def _serial_spec(text):
    try:
        from peripherals.uart import parse_serial_spec
    except ImportError:
        parse_serial_spec = None
    if parse_serial_spec is not None:
        try:
            parse_serial_spec(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
        return text
    if text in ("stdio", "none") or text.startswith("file:") and len(text) > 5:
        return text
    if text.startswith("tcp:"):
        host, _, port = text[4:].rpartition(":")
        if host in ("127.0.0.1", "localhost", "::1", "[::1]") and port.isdigit() \
                and 0 < int(port) < 65536:
            return text
        raise argparse.ArgumentTypeError(
            "%r: a TCP serial port listens on the loopback only: tcp:127.0.0.1:PORT" % text)
    raise argparse.ArgumentTypeError(
        "%r is not a serial host side (stdio, file:PATH or tcp:127.0.0.1:PORT)" % text)


def _e9_spec(text):
    if text in ("stdout", "none") or text.startswith("file:") and len(text) > 5:
        return text
    raise argparse.ArgumentTypeError("%r is not a console sink (stdout, file:PATH or none)"
                                     % text)


def cycle_count(text, base=10):
    """A cycle count as typed: digits with optional _ or , separators and a K, M or G
    suffix (10^3, 10^6, 10^9); base 0 also takes 0x... as int() does.  None if it is not
    one."""
    t = text.replace("_", "").replace(",", "")
    scale = 1
    for suffix, factor in (("K", 10 ** 3), ("M", 10 ** 6), ("G", 10 ** 9)):
        if t.upper().endswith(suffix):
            t, scale = t[:-1], factor
    if base == 10 and not t.isdigit():
        return None
    try:
        return int(t, base) * scale
    except ValueError:
        return None


def positive_cycles(text):
    value = cycle_count(text)
    if not value:
        raise argparse.ArgumentTypeError("%r is not a positive number of cycles" % text)
    return value


def add_machine_options(p):
    """The options that describe a machine: `run`'s and `debug`'s (the same machine)."""
    p.add_argument("machine_file", nargs="?", metavar="MACHINE",
                   help="a machine by name (`cycle86 machine new`; NAME.toml here or in "
                        "the machine directory) or a TOML machine file PATH.toml")
    add_machine_settings(p)
    p.add_argument("--keys", metavar="TEXT", default=None, dest="keys_text",
                   help="type TEXT on the keyboard (US layout; \\n is Enter) from --keys-at "
                        "guest time on")
    p.add_argument("--keys-at", metavar="TIME", default=None,
                   help="guest time --keys starts at: 1.5s, 200ms, 50us or cycles "
                        "(default 1s)")
    p.add_argument("--keys-file", metavar="FILE", default=None,
                   help="a keys script: wait TIME, type TEXT, key CHORD, press/release KEY "
                        "lines, in guest time (README, 'Keyboard input')")
    p.add_argument("--input-log", metavar="FILE", default=None,
                   help="write every key and COM1 byte the host gave the guest, with its "
                        "guest cycle, to FILE at the end (JSON; replay with --replay-input)")
    p.add_argument("--replay-input", metavar="FILE", default=None,
                   help="deliver the input of a saved input log again, at the same cycles")
    return p


def add_machine_settings(p):
    """The settings of a machine, which a machine file can also hold (`run`, `debug` and
    `machine new|edit` share them)."""
    p.add_argument("--machine", choices=("pc", "isapc"), default=None,
                   help="machine type (default pc)")
    p.add_argument("--cpu", type=cpu_model, metavar="MODEL", default=None,
                   help="CPU model (default pentium on pc, 80486 on isapc)")
    p.add_argument("--fpu", type=fpu_choice, metavar="CHIP", default=None,
                   help="a coprocessor beside an 8086/8088 (8087), 80286 (287) or 80386 "
                        "(287, 387); default none. The 486 and later have theirs on chip")
    p.add_argument("--bus-timing", action=argparse.BooleanOptionalAction, default=None,
                   help="8086/8088: time every clock by the bus interface unit model "
                        "(prefetch queue, T-states; the default for those models) or, with "
                        "--no-bus-timing, by the documented tables (docs/8086-timing.md)")
    p.add_argument("--memory", type=memory_size, metavar="SIZE", default=None,
                   help="guest RAM, e.g. 640K, 32M (default 32M)")
    p.add_argument("--bios", metavar="FILE",
                   help="system BIOS image, or seabios, bochs-latest, bochs-legacy "
                        "(default: the Debian package's for the machine type)")
    p.add_argument("--vgabios", metavar="FILE",
                   help="VGA BIOS image, or vgabios, seavgabios, none")
    for slot, what in (("fda", "floppy A:"), ("fdb", "floppy B:"),
                       ("hda", "hard disk 0 (primary master)"),
                       ("hdb", "hard disk 1 (primary slave)")):
        p.add_argument("--" + slot, metavar="IMAGE", help="%s image" % what)
    p.add_argument("--cdrom", metavar="ISO", help="CD-ROM image (secondary master)")
    p.add_argument("--boot", choices=("floppy", "disk", "cdrom"), default=None,
                   help="first boot device (default: the first medium given)")
    p.add_argument("--serial", type=_serial_spec, metavar="HOST",
                   help="COM1's host side: stdio, file:PATH or tcp:127.0.0.1:PORT")
    p.add_argument("--e9", type=_e9_spec, metavar="SINK", default=None,
                   help="where port 0xE9 output goes: stdout (default), file:PATH or none")
    p.add_argument("--bios-log", type=_e9_spec, metavar="SINK", default=None,
                   help="where the firmware's debug console (ports 0x402/0x403) goes: "
                        "stdout, file:PATH or none (default)")
    p.add_argument("--max-cycles", type=positive_cycles, metavar="N", default=None,
                   help="stop after N guest cycles (exit status 124); K, M, G suffixes")
    p.add_argument("--screen", action="store_true", default=None,
                   help="print the VGA text screen when the run ends")
    p.add_argument("--screenshot", metavar="FILE.png", default=None,
                   help="save the guest's screen as a PNG when the run ends (text in the "
                        "guest's font, VGA graphics, VBE modes)")
    p.add_argument("--realtime", action="store_true", default=None,
                   help="pace the guest to the wall clock (the host sleeps; the guest "
                        "sees the same run)")
    p.add_argument("--kernel", metavar="FILE",
                   help="boot this kernel directly (a Linux bzImage or a Multiboot kernel) "
                        "after the BIOS's POST, instead of a disk (docs/kernel-boot.md)")
    p.add_argument("--initrd", metavar="FILE[,FILE...]",
                   help="the Linux initrd, or Multiboot modules (comma-separated, each "
                        "optionally followed by its command line after a space)")
    p.add_argument("--append", metavar="CMDLINE",
                   help="the kernel command line")
    p.add_argument("--commit", action="store_true", default=None,
                   help="write the guest's disk writes back to the images (default: a "
                        "copy-on-write overlay, the images stay untouched)")
    return p


def _add_run(subparsers):
    p = subparsers.add_parser("run", help=COMMAND_HELP["run"], description=RUN_DESCRIPTION)
    add_machine_options(p)
    p.add_argument("--display", choices=("none", "terminal"), default="none",
                   help="terminal: draw the guest's screen in this terminal and pass the "
                        "keyboard through (Ctrl+] q quits); none (default): headless, "
                        "with a progress line on stderr when it is a terminal")
    p.add_argument("--stats", action="store_true",
                   help="print cycles, instructions and host speed at the end (stderr)")
    p.add_argument("--trace", metavar="FILE",
                   help="record every executed instruction into FILE (docs/trace-format.md; "
                        "a bare name goes into traces/); see 'cycle86 trace'")
    p.add_argument("--snapshot", metavar="FILE",
                   help="resume the machine saved in FILE (docs/snapshots.md); the machine "
                        "options come from it")
    p.add_argument("--snapshot-at", nargs=2, metavar=("CYCLES", "FILE"), default=None,
                   help="save a snapshot of the machine into FILE when the clock reaches "
                        "CYCLES (K, M, G suffixes), then run on")
    return p


# What --snapshot FILE takes from the command line: how the run is watched, not what the
# machine is (that comes from the snapshot).
SNAPSHOT_RUNTIME_KEYS = ("serial", "e9", "max_cycles", "screen", "screenshot", "realtime",
                         "input_log")


def _snapshot_config(args):
    """The PCConfig and the State of `--snapshot FILE`."""
    from core import pc as pcmod
    from core import snapshot
    try:
        state = snapshot.load(args.snapshot)
        settings = snapshot.pc_settings(state, args.snapshot)
    except snapshot.SnapshotError as e:
        raise CliError(str(e)) from None
    fixed = [k for k in RUN_KEYS if k not in SNAPSHOT_RUNTIME_KEYS
             and getattr(args, k, None) is not None]
    if args.machine_file or fixed:
        raise CliError("--snapshot %s: the machine comes from the snapshot; --%s cannot "
                       "change it" % (args.snapshot, (fixed or ["machine file"])[0]
                                      .replace("_", "-")))
    for k in SNAPSHOT_RUNTIME_KEYS:
        if getattr(args, k, None) is not None:
            settings[k] = getattr(args, k)
        elif k in ("max_cycles", "screen", "screenshot", "input_log"):
            settings[k] = pcmod.PCConfig.__dataclass_fields__[k].default
    if settings.get("e9") is None:
        settings["e9"] = "stdout"
    known = set(pcmod.PCConfig.keys())
    return pcmod.PCConfig(**{k: v for k, v in settings.items() if k in known}), state


def trace_path(name):
    """Where `--trace NAME` writes: a bare file name goes into traces/ (created), a path
    with a directory part is used as given."""
    path = os.path.expanduser(name)
    if os.path.dirname(path) == "":
        os.makedirs("traces", exist_ok=True)
        path = os.path.join("traces", path)
    return path


def start_trace(machine, name):
    """Open a trace file for `machine` and start the CPU's recorder into it; returns the
    writer (TraceWriter.start: drain(cpu) after each slice of at most
    RECORD_SLICE_CYCLES)."""
    from debugger.trace import TraceWriter
    path = trace_path(name)
    try:
        return TraceWriter.start(path, machine, description=" ".join(sys.argv[1:]))
    except OSError as e:
        raise CliError("%s: cannot write the trace (%s)" % (path, e.strerror or e)) from None


RUN_KEYS = ("machine", "cpu", "fpu", "bus_timing", "memory", "bios", "vgabios", "fda", "fdb",
            "hda", "hdb", "cdrom", "boot", "serial", "e9", "max_cycles", "screen", "realtime", "commit",
            "kernel", "initrd", "append", "overlays", "screenshot", "keys_text", "keys_at",
            "keys_file", "input_log", "replay_input")


def run_config(args):
    """The PCConfig for `cycle86 run`'s arguments (machine file first, options over it)."""
    from core import pc as pcmod

    settings = {}
    if args.machine_file:
        path, settings = pcmod.load_machine_file(args.machine_file)
        settings = _check_file_settings(settings, path)
    given = {k: getattr(args, k) for k in RUN_KEYS if getattr(args, k, None) is not None}
    settings.update(given)
    config = pcmod.PCConfig(**settings)
    media = [k for k in ("fda", "fdb", "hda", "hdb", "cdrom", "kernel") if getattr(config, k)]
    config.bios_only = bool(config.bios) and not media and not config.vgabios
    if config.e9 is None:
        config.e9 = "stdout"
    return config


def _check_file_settings(settings, path="machine file"):
    """Values from the machine file `path`, checked by the same rules as the options; a
    bad one is refused with the file's path and the key."""
    from core import pc as pcmod
    checks = {"cpu": cpu_model, "fpu": fpu_choice, "serial": _serial_spec, "e9": _e9_spec}
    out = {}
    for key, value in settings.items():
        try:
            if key == "memory":
                value = memory_size(str(value))
                if value > pcmod.MAX_MEMORY:
                    raise argparse.ArgumentTypeError(
                        "%d bytes of RAM is more than this PC can address (3.75 GiB)" % value)
            elif key == "max_cycles":
                value = positive_cycles(str(value))
            elif key in checks:
                value = checks[key](str(value))
            elif key in ("kernel", "initrd", "append", "overlays", "screenshot", "keys_text",
                         "keys_at", "keys_file", "input_log", "replay_input", "bios",
                         "vgabios", "fda", "fdb", "hda", "hdb", "cdrom"):
                if not isinstance(value, str):
                    raise argparse.ArgumentTypeError("%r is not a string" % (value,))
            elif key in ("screen", "realtime", "commit", "bus_timing"):
                if not isinstance(value, bool):
                    raise argparse.ArgumentTypeError("%r is not true or false" % (value,))
            elif key == "machine" and value not in pcmod.MACHINE_TYPES:
                raise argparse.ArgumentTypeError("%r is not a machine type (pc, isapc)"
                                                 % (value,))
            elif key == "boot" and value not in pcmod.BOOT_DEVICES:
                raise argparse.ArgumentTypeError("%r is not floppy, disk or cdrom" % (value,))
            elif not isinstance(value, (str, int, bool)):
                raise argparse.ArgumentTypeError("%r is not a string" % (value,))
        except argparse.ArgumentTypeError as e:
            raise CliError("%s: %s: %s" % (path, key, e)) from None
        out[key] = value
    return out


def _open_sink(spec, what):
    from peripherals.debugport import file_sink
    if spec in (None, "none"):
        return None, None
    if spec in ("stdout", "stdio"):
        return file_sink(sys.stdout), None
    path = spec[5:]
    try:
        f = open(path, "wb")
    except OSError as e:
        raise CliError("%s: cannot open %s for writing (%s)" % (path, what, e.strerror or e))
    return file_sink(f), f


def _run_main(args):
    from core import pc as pcmod

    try:
        state = None
        if getattr(args, "snapshot", None):
            config, state = _snapshot_config(args)
        else:
            config = run_config(args)
        snapshot_at = None
        if getattr(args, "snapshot_at", None):
            try:
                snapshot_at = (positive_cycles(args.snapshot_at[0]), args.snapshot_at[1])
            except argparse.ArgumentTypeError as e:
                raise CliError("--snapshot-at: %s" % e) from None
        if args.display == "terminal" and config.e9 == "stdout":
            config.e9 = None        # the screen owns the terminal: 0xE9 is kept, not printed
        echo, e9_file = _open_sink(config.e9, "the port 0xE9 output")
        bios_echo, log_file = _open_sink(args.bios_log, "the firmware log")
        try:
            machine = pcmod.build_pc(config, echo=echo)
        except pcmod.PlatformError:
            for f in (e9_file, log_file):
                if f is not None:
                    f.close()
            raise
        machine.debugport.bios_echo = bios_echo
    except pcmod.PlatformError as e:
        raise CliError(str(e)) from None
    try:
        if state is not None:
            from core import snapshot
            try:
                snapshot.restore(machine, state, args.snapshot)
            except snapshot.SnapshotError as e:
                raise CliError(str(e)) from None
        if snapshot_at is not None:
            _run_to_snapshot(machine, config, *snapshot_at)
        for note in machine.notes:
            sys.stderr.write("%s run: warning: %s\n" % (PROG, note))
        tracer = start_trace(machine.machine, args.trace) if args.trace else None
        cpu = machine.machine.cpu
        drain = (lambda: tracer.drain(cpu)) if tracer else None
        max_slice = None
        if tracer is not None:
            from debugger.trace import RECORD_SLICE_CYCLES
            max_slice = RECORD_SLICE_CYCLES
        try:
            if args.display == "terminal":
                if not (sys.stdin.isatty() and sys.stdout.isatty()):
                    raise CliError("--display terminal needs a terminal (stdin and stdout)")
                from debugger.console import run_console
                outcome = run_console(machine, config, after_slice=drain, max_slice=max_slice)
            else:
                from debugger.console import Progress
                with Progress(machine) as progress:
                    def after_slice():
                        if drain is not None:
                            drain()
                        progress.tick()
                    outcome = machine.run(max_cycles=config.max_cycles,
                                          realtime=config.realtime, after_slice=after_slice,
                                          max_slice=max_slice)
        finally:
            if tracer is not None:
                cpu.trace_stop()
                tracer.drain(cpu, last=True)
                tracer.close()
        _check_echo(echo)
        if config.screen:
            lines = machine.screen_text()
            if lines is None:
                print("(the VGA is not in a text mode)")
            else:
                while lines and not lines[-1]:
                    lines.pop()
                print("\n".join(lines))
        if config.screenshot:
            _save_screenshot(machine, config.screenshot)
        if config.input_log:
            _save_input_log(machine, config.input_log)
        if outcome.reason != "stop" or machine.debugport.exit_status is None or args.stats:
            sys.stderr.write("%s run: %s\n" % (PROG, outcome.description))
        if args.stats:
            for line in machine.notes_info:
                sys.stderr.write("%s run: %s\n" % (PROG, line))
            m = machine.machine
            sys.stderr.write("%s run: %s instructions, %s cycles (%.3f s at %g MHz); host "
                             "%.3f s, %.2f MIPS\n"
                             % (PROG, format(outcome.instructions, ","),
                                format(outcome.cycles, ","), outcome.cycles / m.clock.frequency,
                                m.clock.frequency / 1e6, outcome.wall, outcome.mips))
        return outcome.exit_status & 0xFF if outcome.exit_status > 255 else outcome.exit_status
    finally:
        machine.close()
        for f in (e9_file, log_file):
            if f is not None:
                f.close()


def _run_to_snapshot(machine, config, cycle, path):
    """--snapshot-at: run (headless) to `cycle`, save the machine to `path`; the rest of
    --max-cycles is left for the run that follows."""
    from core import snapshot
    m = machine.machine
    start = m.clock.now
    if cycle > m.clock.now:
        if config.max_cycles is not None and cycle - start > config.max_cycles:
            return
        outcome = machine.run(max_cycles=cycle - m.clock.now)
        if outcome.reason != "budget":
            sys.stderr.write("%s run: warning: no snapshot: %s before cycle %d\n"
                             % (PROG, outcome.description, cycle))
            return
        if config.max_cycles is not None:
            config.max_cycles -= m.clock.now - start
    try:
        snapshot.save(machine, path, "cycle86 run --snapshot-at %d" % cycle)
    except snapshot.SnapshotError as e:
        raise CliError(str(e)) from None
    sys.stderr.write("%s run: saved the machine at cycle %d to %s\n" % (PROG, m.clock.now, path))


def _save_input_log(machine, path):
    from core import keys
    try:
        keys.save_input_log(machine, path)
    except OSError as e:
        raise CliError("%s: cannot write the input log (%s)" % (path, e.strerror or e)) \
            from None


def _save_screenshot(machine, path):
    vga = machine.chips.get("vga")
    if vga is None:
        sys.stderr.write("%s run: warning: no VGA, so no screenshot\n" % PROG)
        return
    try:
        width, height, mode = vga.screenshot(path)
    except OSError as e:
        raise CliError("%s: cannot write the screenshot (%s)" % (path, e.strerror or e)) \
            from None
    sys.stderr.write("%s run: screenshot %s: %dx%d, %s\n" % (PROG, path, width, height, mode))


# ------------------------------------------------------------------ the command table

class Command(NamedTuple):
    name: str
    help: str
    load: Callable[[], tuple]        # -> (add_subparser, main)


def _from_module(module_name):
    """A loader for a command that lives in its own module (add_subparser, cli_main)."""
    def load():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name == module_name:
                raise CliError("this command is not available: its module %s is not part of "
                               "this installation" % module_name) from None
            raise
        return module.add_subparser, module.cli_main
    return load


COMMANDS = (
    Command("conformance", "run the hardware-captured CPU conformance suites",
            _from_module("core.conformance")),
    Command("demo", "run the bundled demo guest and show its output and speed",
            lambda: (_add_demo, _demo_main)),
    Command("bench", "measure guest MIPS and cycles per second",
            lambda: (_add_bench, _bench_main)),
    Command("run", "run a PC (isapc or pc) with firmware, disks and a console",
            lambda: (_add_run, _run_main)),
    Command("debug", "debug a PC or the demo guest (Bochs commands, TUI, gdb)",
            _from_module("debugger.cli")),
    Command("trace", "show, summarise, compare and export recorded traces",
            _from_module("debugger.trace_cli")),
    Command("machine", "create, list, show, edit and remove machines by name",
            _from_module("core.machines")),
)
COMMAND_HELP = {c.name: c.help for c in COMMANDS}


def _version():
    try:
        from importlib.metadata import version
        return version("cycle86")
    except Exception:
        return "(not installed)"


def build_parser(selected=None):
    """The top-level parser; `selected` (a Command) gets its real subparser, the others
    only a placeholder so ``cycle86 -h`` can list them.

    Returns (parser, the selected command's own parser or None, its main or None)."""
    parser = ArgumentParser(
        prog=PROG,
        description="cycle86: a cycle-accurate IA-32 PC simulator and debugger.")
    parser.add_argument("--version", action="version", version="%s %s" % (PROG, _version()))
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND",
                                       title="commands")
    main = None
    for command in COMMANDS:
        if selected is not None and command.name == selected.name:
            add_subparser, main = command.load()
            add_subparser(subparsers)
        else:
            subparsers.add_parser(command.name, help=command.help, add_help=False)
    sub = subparsers.choices.get(selected.name) if main is not None else None
    return parser, sub, main


def _selected_command(argv):
    """The command named on the command line (the first word that is not an option)."""
    for word in argv:
        if not word.startswith("-"):
            for command in COMMANDS:
                if command.name == word:
                    return command
            return None
    return None


def _setup_problem(e):
    """One line for an import error of the compiled core or a dependency."""
    name = getattr(e, "name", None) or str(e)
    if name.startswith(("core.", "peripherals.", "debugger.")):
        return ("cannot load %s (%s): build the extensions with 'pip install -e .' or "
                "'python setup.py build_ext --inplace'" % (name, e))
    return "a required package is missing (%s): install cycle86 with 'pip install -e .'" % e


def main(argv=None):
    """Run the command line `argv` (default: sys.argv[1:]); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    selected = _selected_command(argv)
    where = PROG if selected is None else "%s %s" % (PROG, selected.name)
    try:
        parser, sub, command_main = build_parser(selected)
        args, extra = parser.parse_known_args(argv)
        if extra:
            # Blame the command's parser, whose options the user was most likely reaching for.
            (sub or parser).error("unrecognized arguments: %s" % " ".join(extra))
        if command_main is None:     # no command word at all, e.g. '' or just options
            parser.error("no command given; choose one of %s"
                         % ", ".join(c.name for c in COMMANDS))
        status = command_main(args)
        return 0 if status is None else int(status)
    except SystemExit as e:          # argparse: -h, --version and usage errors
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    except CliError as e:
        sys.stderr.write("%s: %s\n" % (where, e))
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("%s: interrupted\n" % where)
        return 130
    except BrokenPipeError:
        # `cycle86 demo | head`: the reader has gone.  Point stdout at /dev/null so the
        # interpreter's final flush does not complain a second time.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except ImportError as e:
        if os.environ.get("CYCLE86_TRACEBACK"):
            raise
        sys.stderr.write("%s: %s\n" % (where, _setup_problem(e)))
        return 2
    except Exception as e:
        if os.environ.get("CYCLE86_TRACEBACK"):
            raise
        sys.stderr.write("%s: internal error: %s: %s (set CYCLE86_TRACEBACK=1 to see where)\n"
                         % (where, type(e).__name__, e))
        return 2


if __name__ == "__main__":
    # `python -m core.cli`: run the importable module, not this __main__ copy, so that the
    # command modules' `from core import cli` raise the CliError that main() catches.
    from core.cli import main as _main
    sys.exit(_main())
