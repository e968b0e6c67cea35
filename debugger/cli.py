"""`cycle86 debug`: the debugger on a machine, with the TUI, a REPL, a batch script or a
gdb stub (docs/debugger.md).

The machine options are `cycle86 run`'s (core/cli.py add_machine_options), so any machine
that runs can be debugged as it is.  With no machine option at all, the bundled demo guest
(core/guests/demo.rom, a BIOS-less ROM at the reset vector) opens paused at its first
instruction.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys

PROMPT = "<cycle86> "
HISTORY = os.path.join(os.path.expanduser("~"), ".cycle86_history")


def _host_port(text):
    host, colon, port = text.rpartition(":")
    if not colon or not port.isdigit() or not 0 <= int(port) < 65536:
        raise argparse.ArgumentTypeError("%r is not HOST:PORT (e.g. 127.0.0.1:1234)" % text)
    return host or "127.0.0.1", int(port)


def add_subparser(subparsers):
    from core import cli as corecli
    p = subparsers.add_parser(
        "debug", help=corecli.COMMAND_HELP["debug"],
        description="Debug a PC: the same machine options as 'cycle86 run', then the "
                    "debugger's text UI (default), a command prompt (--no-tui), a script "
                    "(--batch) and/or a gdb remote stub (--gdb). With no machine options, "
                    "the bundled demo guest opens paused at the reset vector. The command "
                    "language is Bochs's (see docs/debugger.md). Exit status: 0, 1 when a "
                    "--batch command failed, 2 for a usage, file or setup error.")
    corecli.add_machine_options(p)
    p.add_argument("--no-tui", action="store_true",
                   help="a command prompt on stdin/stdout instead of the text UI")
    p.add_argument("--batch", metavar="FILE",
                   help="run the commands in FILE, print their output and exit (1 if a "
                        "command failed)")
    p.add_argument("--gdb", type=_host_port, metavar="HOST:PORT",
                   help="serve gdb's remote protocol there (target remote HOST:PORT)")
    p.add_argument("--trace", metavar="FILE",
                   help="record a trace of every instruction from the start into FILE")
    p.add_argument("--snapshot", metavar="FILE",
                   help="open the machine saved in FILE (docs/snapshots.md); the machine "
                        "options come from it")
    p.add_argument("--no-record", action="store_true",
                   help="do not record for reverse execution (recorded by default)")
    p.add_argument("--record-budget", type=corecli.memory_size, default=None, metavar="SIZE",
                   help="memory for reverse execution's snapshots (default 1G)")
    p.add_argument("--symbols", action="append", default=[], metavar="FILE",
                   help="load symbols (ELF, or Bochs 'ADDR NAME' lines); repeatable")
    p.add_argument("--break", dest="breaks", action="append", default=[], metavar="ADDR",
                   help="a breakpoint (as the b command: physical, SEG:OFF or symbol); "
                        "repeatable")
    return p


def _machine_given(args):
    from core import cli as corecli
    return bool(args.machine_file) or bool(getattr(args, "snapshot", None)) \
        or args.bios_log is not None or any(
        getattr(args, k, None) is not None for k in corecli.RUN_KEYS)


class _Session:
    """What cli_main builds and must close: the machine, its files, the gdb server."""

    def __init__(self):
        self.files = []
        self.pc = None
        self.server = None
        self.dbg = None

    def close(self):
        if self.server is not None:
            self.server.close()
        if self.dbg is not None and self.dbg.trace is not None:
            self.dbg.trace_stop()
        if self.pc is not None:
            log = getattr(self.pc.config, "input_log", None)
            if log:
                # The keys typed in the TUI, sendkey and the serial console, by cycle:
                # `cycle86 run --replay-input` runs the same session again.
                from core import keys
                try:
                    keys.save_input_log(self.pc, log)
                except OSError as e:
                    sys.stderr.write("cycle86 debug: %s: cannot write the input log (%s)\n"
                                     % (log, e.strerror or e))
            self.pc.close()
        for f in self.files:
            f.close()


def _build(args, session):
    """The Debugger for the machine the options describe (CliError when they are bad)."""
    from core import cli as corecli
    from debugger.controller import Debugger

    if not _machine_given(args):
        from core import bench
        try:
            machine, _port = bench.make_machine(bench.DEMO_ROM.read_bytes(),
                                                echo=_stdout_sink())
        except (bench.GuestError, OSError) as e:
            raise corecli.CliError("the demo guest: %s" % e) from None
        return Debugger(machine), None
    from core import pc as pcmod
    try:
        state = None
        if args.snapshot:
            config, state = corecli._snapshot_config(args)
        else:
            config = corecli.run_config(args)
        echo, e9_file = corecli._open_sink(config.e9, "the port 0xE9 output")
        if e9_file is not None:
            session.files.append(e9_file)
        bios_echo, log_file = corecli._open_sink(args.bios_log, "the firmware log")
        if log_file is not None:
            session.files.append(log_file)
        pc = pcmod.build_pc(config, echo=echo)
        pc.debugport.bios_echo = bios_echo
    except pcmod.PlatformError as e:
        raise corecli.CliError(str(e)) from None
    if state is not None:
        from core import snapshot
        try:
            snapshot.restore(pc, state, args.snapshot)
        except snapshot.SnapshotError as e:
            pc.close()
            raise corecli.CliError(str(e)) from None
    session.pc = pc
    for note in pc.notes:
        sys.stderr.write("cycle86 debug: warning: %s\n" % note)
    return Debugger(pc), config.max_cycles


def _stdout_sink():
    from peripherals.debugport import file_sink
    return file_sink(sys.stdout)


def cli_main(args):
    from core import cli as corecli
    from debugger.commands import CommandInterpreter

    if args.batch is not None and (not os.path.exists(args.batch) or os.path.isdir(args.batch)):
        raise corecli.CliError("--batch: %s: no such file" % args.batch)
    for path in args.symbols:
        if not os.path.isfile(path):
            raise corecli.CliError("--symbols: %s: no such file" % path)
    session = _Session()
    try:
        dbg, max_cycles = _build(args, session)
        session.dbg = dbg
        interp = CommandInterpreter(dbg, write=_writer(sys.stdout))
        interp.max_cycles = max_cycles
        for path in args.symbols:
            if not interp.execute("ldsym %s" % _quote(path)) or interp.last_error:
                raise corecli.CliError("--symbols %s: %s" % (path, interp.last_error))
        for where in args.breaks:
            interp.execute("b %s" % where)
            if interp.last_error:
                raise corecli.CliError("--break %s: %s" % (where, interp.last_error))
        if args.trace:
            from debugger.controller import DebugError
            try:
                dbg.trace_start(corecli.trace_path(args.trace), description="cycle86 debug")
            except DebugError as e:
                raise corecli.CliError("--trace %s: %s" % (args.trace, e)) from None
        if not args.no_record and not args.trace:
            from debugger.controller import DebugError
            try:
                dbg.record(budget=args.record_budget)
            except DebugError as e:
                sys.stderr.write("cycle86 debug: no reverse execution: %s\n" % e)
        if args.gdb:
            session.server = _start_gdb(dbg, interp, *args.gdb)
        if args.batch is not None:
            ok = interp.run_script(args.batch)
            sys.stdout.flush()
            if session.server is not None and ok and not interp.quit_requested:
                session.server.wait_client()
            return 0 if ok else 1
        if not args.no_tui and not (sys.stdin.isatty() and sys.stdout.isatty()):
            # A text UI needs a terminal; piped input is a session of commands.
            sys.stderr.write("cycle86 debug: not a terminal: reading commands from "
                             "standard input\n")
            args.no_tui = True
        if not args.no_tui:
            from debugger.tui import run_tui
            run_tui(dbg, interp, gdb=session.server)
            return 0
        repl(interp, gdb=session.server)
        return 0
    finally:
        session.close()


def _quote(text):
    import shlex
    return shlex.quote(text)


def _writer(stream):
    def write(text):
        stream.write(text + "\n")
    return write


def _start_gdb(dbg, interp, host, port):
    from core import cli as corecli
    from debugger.gdbstub import GdbServer
    server = GdbServer(dbg, host, port, monitor=interp.execute_capture)
    try:
        port = server.start()
    except OSError as e:
        raise corecli.CliError("--gdb %s:%d: cannot listen (%s)"
                               % (host, port, e.strerror or e)) from None
    sys.stderr.write("cycle86 debug: gdb stub listening on %s:%d "
                     "(gdb: target remote %s:%d)\n" % (host, port, host, port))
    return server


def repl(interp, gdb=None, stdin=None):
    """The command prompt: read lines until quit or end of input.  Ctrl+C while the guest
    runs stops it (the next prompt shows where); at the prompt it clears the line."""
    stdin = stdin or sys.stdin
    interactive = stdin.isatty()
    readline = None
    if interactive:
        try:
            import readline
            readline.set_completer_delims("")
            readline.set_completer(_completer(interp))
            readline.parse_and_bind("tab: complete")
            try:
                readline.read_history_file(HISTORY)
            except OSError:
                pass
        except ImportError:
            readline = None

    def on_sigint(signum, frame):
        if interp.dbg.running:
            interp.interrupt()
        else:
            raise KeyboardInterrupt
    old = signal.signal(signal.SIGINT, on_sigint) \
        if _main_thread() else None
    try:
        interp.write(interp.next_line())
        while True:
            try:
                if interactive:
                    line = input(PROMPT)
                else:
                    sys.stdout.write(PROMPT)
                    sys.stdout.flush()
                    line = stdin.readline()
                    if not line:
                        raise EOFError
                    sys.stdout.write(line if line.endswith("\n") else line + "\n")
            except EOFError:
                if interactive:
                    sys.stdout.write("\n")
                if gdb is not None:
                    interp.write("end of input: serving gdb until the client detaches")
                    sys.stdout.flush()
                    gdb.wait_client()
                return
            except KeyboardInterrupt:
                sys.stdout.write("^C\n")
                continue
            if not interp.execute(line):
                return
            sys.stdout.flush()
    finally:
        if old is not None:
            signal.signal(signal.SIGINT, old)
        if readline is not None:
            try:
                readline.write_history_file(HISTORY)
            except OSError:
                pass


def _main_thread():
    import threading
    return threading.current_thread() is threading.main_thread()


def _completer(interp):
    cache = {}

    def complete(text, state):
        if state == 0:
            cache["items"] = interp.complete(text)
        items = cache.get("items", [])
        return items[state] if state < len(items) else None
    return complete
