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
    sys.exit(main())
