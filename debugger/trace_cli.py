"""`cycle86 trace`: show, summarise, compare and export trace files (debugger/trace.py).

    cycle86 trace show FILE [--from CYCLE] [--to CYCLE] [--filter EXPR]... [--limit N]
                            [--format text|jsonl] [--clocks]
    cycle86 trace stats FILE [--top N] [--format text|json]
    cycle86 trace diff A B [--context N] [--ignore-cycles]
    cycle86 trace export FILE [--format text|jsonl] [--clocks] [-o OUT]

Exit status: 0 success (diff: the traces agree), 1 diff found a divergence, 2 a usage or
file error, printed as one line naming the file and byte offset.
"""
import argparse
import collections
import fnmatch
import json
import sys

from core.cli import cycle_count
from debugger import trace as tr


class CliError(Exception):
    """A usage or file error: one line on stderr, exit status 2.  (Not core.cli's class:
    under `python -m core.cli` that module is __main__, so cli_main reports these itself.)"""

FILTER_HELP = """\
filters (--filter, several combine with AND; one --filter may hold several separated by
commas): cs=SEL, eip=N or A-B, linear=A-B, phys=A-B (instruction addresses);
mnemonic=NAME (capstone's mnemonic, * and ? wildcards: mnemonic=rep*); io (any port
access); port=N or A-B; int (any interrupt or exception); vector=N or A-B; mem (any memory
write); mem=A-B (a write touching that linear range); reg=NAME (changes that register);
kind=insn|interrupt|shutdown; mode=real|protected|v86. Numbers are decimal or 0x hex;
ranges are inclusive."""


def add_subparser(subparsers):
    """Register `trace` on a `cycle86` argparse subparsers object."""
    p = subparsers.add_parser(
        "trace", help="show, summarise, compare and export recorded traces",
        description="Read instruction traces recorded by 'cycle86 run --trace FILE' "
                    "(format: docs/trace-format.md).",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=FILTER_HELP)
    sub = p.add_subparsers(dest="trace_command", metavar="ACTION", title="actions")
    sub.required = True

    s = sub.add_parser("show", help="print records, one a line",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog=FILTER_HELP)
    s.add_argument("file", metavar="FILE")
    s.add_argument("--from", dest="from_cycle", type=cycle_number, metavar="CYCLE",
                   help="start at this cycle (K, M, G suffixes)")
    s.add_argument("--to", dest="to_cycle", type=cycle_number, metavar="CYCLE",
                   help="stop after this cycle")
    s.add_argument("--filter", action="append", default=[], metavar="EXPR",
                   help="only records matching EXPR (see below)")
    s.add_argument("--limit", type=positive_int, metavar="N", help="print at most N records")
    s.add_argument("--format", choices=("text", "jsonl"), default="text")
    s.add_argument("--clocks", action="store_true",
                   help="each instruction's clocks (a recording with --bus-timing): ALE, "
                        "address, segment, bus status, T-state, BHE#, queue operation")

    st = sub.add_parser("stats", help="instruction mix, hottest addresses, interrupts, ports")
    st.add_argument("file", metavar="FILE")
    st.add_argument("--top", type=positive_int, default=20, metavar="N",
                    help="rows in each table (default 20)")
    st.add_argument("--format", choices=("text", "json"), default="text")

    d = sub.add_parser("diff", help="the first divergence between two traces",
                       description="Compare two traces record by record (location, bytes, "
                                   "mode, interrupts, I/O, memory writes, register changes, "
                                   "cycle) and show the first record where they differ, "
                                   "with the records before it. Exit 0 if they agree, 1 if "
                                   "they differ.")
    d.add_argument("a", metavar="A")
    d.add_argument("b", metavar="B")
    d.add_argument("--context", type=nonnegative_int, default=5, metavar="N",
                   help="common records to show before the divergence (default 5)")
    d.add_argument("--ignore-cycles", action="store_true",
                   help="do not compare the cycle each instruction starts at")

    e = sub.add_parser("export", help="write the whole trace as text or JSON lines")
    e.add_argument("file", metavar="FILE")
    e.add_argument("--format", choices=("text", "jsonl"), default="jsonl")
    e.add_argument("--clocks", action="store_true",
                   help="with each instruction's clocks (as show --clocks)")
    e.add_argument("-o", "--output", metavar="OUT", help="output file (default stdout)")
    p.set_defaults(func=cli_main)
    return p


# ------------------------------------------------------------------ argument types

def _int(text):
    return int(text.replace("_", ""), 0)


def cycle_number(text):
    value = cycle_count(text, base=0)
    if value is None or value < 0:
        raise argparse.ArgumentTypeError("%r is not a cycle number" % text)
    return value


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError("%r is not a positive number" % text)
    return value


def nonnegative_int(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError("%r is not a number of records" % text)
    return value


# ------------------------------------------------------------------ filters

def _range(text, what):
    lo, sep, hi = text.partition("-")
    try:
        lo = _int(lo)
        hi = _int(hi) if sep else lo
    except ValueError:
        raise CliError("--filter %s=%s: not a number or range (N, 0xN or A-B)"
                       % (what, text)) from None
    if hi < lo:
        raise CliError("--filter %s=%s: the range ends before it starts" % (what, text))
    return lo, hi


def _insn_field(field, lo, hi):
    def match(rec):
        if rec.kind != "insn":
            return False
        return lo <= getattr(rec, field) <= hi
    return match


def parse_filter(text):
    """A predicate over records for one filter term (see FILTER_HELP)."""
    name, eq, value = text.partition("=")
    name = name.strip().lower()
    value = value.strip()
    if not eq:
        if name == "io":
            return lambda rec: bool(rec.io)
        if name == "int":
            return lambda rec: bool(rec.interrupts)
        if name == "mem":
            return lambda rec: bool(rec.mem_writes)
        raise CliError("--filter %r: unknown filter (io, int, mem, or NAME=VALUE; see "
                       "'cycle86 trace show -h')" % text)
    if name in ("cs", "eip", "linear", "phys"):
        lo, hi = _range(value, name)
        return _insn_field("physical" if name == "phys" else name, lo, hi)
    if name == "mnemonic":
        pattern = value.lower()
        if not pattern:
            raise CliError("--filter mnemonic=: give a mnemonic (mnemonic=int)")
        return lambda rec: rec.kind == "insn" and fnmatch.fnmatchcase(tr.mnemonic(rec),
                                                                      pattern)
    if name == "port":
        lo, hi = _range(value, name)
        return lambda rec: any(lo <= port <= hi for port, _, _, _ in rec.io)
    if name == "vector":
        lo, hi = _range(value, name)
        return lambda rec: any(lo <= v <= hi for v, _, _ in rec.interrupts)
    if name == "mem":
        lo, hi = _range(value, name)
        return lambda rec: any(lin <= hi and lin + size - 1 >= lo
                               for lin, _, size, _ in rec.mem_writes)
    if name == "reg":
        reg = value.lower()
        if reg not in tr.REG_INDEX:
            raise CliError("--filter reg=%s: not a register (%s)"
                           % (value, ", ".join(tr.REG_NAMES)))
        return lambda rec: reg in rec.regs_after
    if name == "kind":
        if value not in ("insn", "interrupt", "shutdown"):
            raise CliError("--filter kind=%s: insn, interrupt or shutdown" % value)
        return lambda rec: rec.kind == value
    if name == "mode":
        modes = {"real": tr.MODE_REAL, "protected": tr.MODE_PROTECTED, "v86": tr.MODE_V86}
        if value not in modes:
            raise CliError("--filter mode=%s: real, protected or v86" % value)
        m = modes[value]
        return lambda rec: rec.mode is not None and rec.mode & 3 == m
    raise CliError("--filter %r: unknown filter %r (see 'cycle86 trace show -h')"
                   % (text, name))


def parse_filters(exprs):
    """One predicate for all --filter options (AND), or None when there are none."""
    preds = []
    for expr in exprs:
        for term in expr.replace(",", " ").split():
            preds.append(parse_filter(term))
    if not preds:
        return None
    if len(preds) == 1:
        return preds[0]
    return lambda rec: all(p(rec) for p in preds)


# ------------------------------------------------------------------ the actions

def _open(path):
    try:
        return tr.TraceReader(path)
    except tr.TraceError as e:
        raise CliError(str(e)) from None


def _warn(reader):
    for message in reader.warnings:
        sys.stderr.write("cycle86 trace: warning: %s\n" % message)


def _header_line(reader):
    h = reader.header
    parts = ["# %s: format %d" % (reader.path, reader.version)]
    for key in ("cpu", "frequency", "start_cycle", "description", "created"):
        if h.get(key) not in (None, ""):
            parts.append("%s=%s" % (key, h[key]))
    return " ".join(parts)


def _write_records(reader, records, fmt, out, limit=None, clocks=False):
    if fmt == "text":
        out.write(_header_line(reader) + "\n")
    n = 0
    lines = []
    for rec in records:
        if fmt == "text":
            lines.append(tr.format_record(rec))
            if clocks:
                lines.extend(tr.format_clocks(rec))
        else:
            lines.append(tr.format_json(rec, clocks))
        n += 1
        if len(lines) >= 1024:
            out.write("\n".join(lines) + "\n")
            lines.clear()
        if limit is not None and n >= limit:
            break
    if lines:
        out.write("\n".join(lines) + "\n")
    return n


def _decoding(reader, records):
    """Records, with a TraceError turned into a CliError."""
    try:
        yield from records
    except tr.TraceError as e:
        raise CliError(str(e)) from None


def _show(args):
    predicate = parse_filters(args.filter)
    if (args.from_cycle is not None and args.to_cycle is not None
            and args.to_cycle < args.from_cycle):
        raise CliError("--to %d is before --from %d" % (args.to_cycle, args.from_cycle))
    with _open(args.file) as reader:
        records = reader.records(args.from_cycle, args.to_cycle)
        if predicate is not None:
            records = filter(predicate, records)
        _write_records(reader, _decoding(reader, records), args.format, sys.stdout,
                       args.limit, args.clocks)
        sys.stdout.flush()
        _warn(reader)
    return 0


def _export(args):
    with _open(args.file) as reader:
        if args.output:
            try:
                out = open(args.output, "w", encoding="utf-8")
            except OSError as e:
                raise CliError("%s: cannot open for writing: %s"
                               % (args.output, e.strerror or e)) from None
        else:
            out = sys.stdout
        try:
            _write_records(reader, _decoding(reader, reader.records()), args.format, out,
                           clocks=args.clocks)
        finally:
            if out is not sys.stdout:
                out.close()
            else:
                out.flush()
        _warn(reader)
    return 0


def _stats(args):
    with _open(args.file) as reader:
        try:
            s = reader.stats()
        except tr.TraceError as e:
            raise CliError(str(e)) from None
        if args.format == "json":
            d = s.to_dict(args.top)
            d["header"] = reader.header
            print(json.dumps(d, indent=1))
        else:
            print(format_stats(reader, s, args.top))
        sys.stdout.flush()
        _warn(reader)
    return 0


def format_stats(reader, s, top=20):
    """The text report of `cycle86 trace stats`."""
    h = reader.header
    lines = ["trace %s: format %d, cpu %s at %s Hz" % (reader.path, reader.version,
                                                        h.get("cpu", "?"),
                                                        h.get("frequency", "?"))]
    if h.get("description"):
        lines.append("description: %s" % h["description"])
    lines.append("instructions: %s" % format(s.instructions, ","))
    if s.first_cycle is not None:
        lines.append("cycles: %s (from %s to %s)" % (format(s.cycles, ","),
                                                     format(s.first_cycle, ","),
                                                     format(s.last_cycle, ",")))
    lines.append("interrupt deliveries between instructions: %d; shutdowns: %d; "
                 "mode changes: %d" % (s.interrupt_records, s.shutdowns, s.mode_changes))
    lines.append("memory writes: %s; register changes: %s"
                 % (format(s.mem_writes, ","), format(s.reg_writes, ",")))
    if s.bus_timed:
        lines.append("bus model: %s clocks over %s records (%.2f a record)"
                     % (format(s.bus_clocks, ","), format(s.bus_timed, ","),
                        s.bus_clocks / s.bus_timed))
    lines.append("size: %s bytes of entries, %.2f bytes per instruction (file %s bytes)"
                 % (format(s.stream_bytes, ","), s.bytes_per_instruction,
                    format(s.file_bytes, ",")))
    total = s.instructions or 1

    lines.append("")
    lines.append("instruction mix (top %d of %d mnemonics):" % (top, len(s.mnemonics)))
    for name, n in s.mnemonics.most_common(top):
        lines.append("  %-12s %12s  %5.1f%%" % (name, format(n, ","), 100.0 * n / total))

    lines.append("")
    lines.append("hottest addresses (top %d):" % top)
    for (cs, eip, lin), n in s.addresses.most_common(top):
        lines.append("  %04x:%08x (l=0x%08x) %12s  %5.1f%%"
                     % (cs, eip, lin, format(n, ","), 100.0 * n / total))

    lines.append("")
    lines.append("interrupts by vector and kind:")
    if not s.interrupts:
        lines.append("  (none)")
    for (vector, kind), n in sorted(s.interrupts.items()):
        lines.append("  0x%02x %-9s %12s" % (vector, tr.INT_KIND_NAMES[kind], format(n, ",")))

    lines.append("")
    lines.append("I/O ports by count:")
    by_port = collections.defaultdict(lambda: [0, 0])
    for (port, is_write), n in s.ports.items():
        by_port[port][1 if is_write else 0] += n
    if not by_port:
        lines.append("  (none)")
    for port, (reads, writes) in sorted(by_port.items(), key=lambda kv: (-sum(kv[1]), kv[0])):
        lines.append("  0x%04x  in %10s  out %10s" % (port, format(reads, ","),
                                                      format(writes, ",")))
    return "\n".join(lines)


def _diff(args):
    with _open(args.a) as a, _open(args.b) as b:
        out = sys.stdout
        status = diff_traces(a, b, out, context=args.context, cycles=not args.ignore_cycles)
        out.flush()
        _warn(a)
        _warn(b)
    return status


def diff_traces(a, b, out, context=5, cycles=True):
    """Compare two open traces in lockstep and report the first divergence on `out`.
    Returns 0 if they agree, 1 if they differ."""
    for key in ("cpu", "frequency", "start_cycle"):
        if a.header.get(key) != b.header.get(key):
            out.write("note: the headers differ in %s: %r vs %r\n"
                      % (key, a.header.get(key), b.header.get(key)))
    before = collections.deque(maxlen=context or None) if context else None
    ia = _decoding(a, a.records())
    ib = _decoding(b, b.records())
    n = 0
    while True:
        ra = next(ia, None)
        rb = next(ib, None)
        if ra is None and rb is None:
            out.write("the traces agree: %d records\n" % n)
            return 0
        if ra is None or rb is None:
            _print_context(out, before)
            shorter, longer, rec = ((a.path, b.path, rb) if ra is None
                                    else (b.path, a.path, ra))
            out.write("divergence at record %d: %s ends there; %s continues:\n"
                      % (n, shorter, longer))
            out.write("  %s\n" % tr.format_record(rec))
            return 1
        fields = tr.compare_records(ra, rb, cycles=cycles)
        if fields:
            _print_context(out, before)
            out.write("divergence at record %d (offset %d in A, %d in B), in: %s\n"
                      % (n, ra.offset, rb.offset, ", ".join(f for f, _, _ in fields)))
            out.write("A %s\n" % tr.format_record(ra))
            out.write("B %s\n" % tr.format_record(rb))
            for field, va, vb in fields:
                out.write("  %s: A %s\n" % (field, va))
                out.write("  %s  B %s\n" % (" " * len(field), vb))
            state = ra.regs_before()
            out.write("registers before (both): %s\n"
                      % " ".join(tr.format_reg(k, v) for k, v in state.items()))
            if ra.state_before != rb.state_before:
                out.write("registers before in B:   %s\n"
                          % " ".join(tr.format_reg(k, v) for k, v in rb.regs_before().items()))
            return 1
        if before is not None:
            before.append(ra)
        n += 1


def _print_context(out, before):
    if before:
        out.write("common records before the divergence:\n")
        for rec in before:
            out.write("  %s\n" % tr.format_record(rec))


ACTIONS = {"show": _show, "stats": _stats, "diff": _diff, "export": _export}


def cli_main(args):
    """Run `cycle86 trace ACTION`; returns the exit status."""
    try:
        return ACTIONS[args.trace_command](args)
    except (CliError, tr.TraceError) as e:
        sys.stdout.flush()
        sys.stderr.write("cycle86 trace: %s\n" % e)
        return 2
