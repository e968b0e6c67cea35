"""Machines by name: `cycle86 machine new|list|show|edit|rm NAME`.

A named machine is a TOML machine file, NAME.toml, in the machine directory:
$CYCLE86_MACHINES if set, else ${XDG_CONFIG_HOME:-~/.config}/cycle86/machines.  It holds
the same keys as `cycle86 run`'s options (core/pc.PCConfig); `cycle86 run NAME` and
`cycle86 debug NAME` start it.  Its disks keep their own copy-on-write overlays in
NAME.overlays/ beside the file (the `overlays` key): the guest finds its writes again next
time, and the disk images themselves are never written (peripherals/diskimage.py).
`machine edit NAME --hda OTHER.img` drops hda's overlay, which belongs to the old image;
`machine edit NAME --discard-overlays` drops them all; `machine rm NAME` removes the file
and the overlays, never a disk image.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
DISK_SLOTS = ("fda", "fdb", "hda", "hdb")
PATH_KEYS = ("bios", "vgabios", "fda", "fdb", "hda", "hdb", "cdrom", "kernel", "overlays",
             "screenshot")


class MachineError(Exception):
    """A bad name, a missing machine, a clash; the message says which."""


def machine_dir():
    env = os.environ.get("CYCLE86_MACHINES")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "cycle86" / "machines"


def check_name(name):
    if not NAME_RE.match(name or ""):
        raise MachineError("%r is not a machine name (letters, digits, '.', '_' and '-', "
                           "starting with a letter or digit, at most 64)" % (name,))
    return name


def path_of(name):
    return machine_dir() / (check_name(name) + ".toml")


def overlay_dir_of(name):
    return machine_dir() / (check_name(name) + ".overlays")


def names():
    d = machine_dir()
    if not d.is_dir():
        return []
    return sorted(p.stem for p in d.glob("*.toml") if NAME_RE.match(p.stem))


def load(name):
    """The settings of machine `name` (paths absolute), as core/pc.load_machine_file reads
    them and checked by the rules `cycle86 run NAME` applies (so "4M" is a number of
    bytes here too); MachineError when there is none, a one-line error naming the file
    for a bad value."""
    from core import cli
    from core import pc as pcmod
    path = path_of(name)
    if not path.is_file():
        raise MachineError("no machine %r (no %s; 'cycle86 machine list' shows them)"
                           % (name, path))
    path, settings = pcmod.load_machine_file(str(path))
    return cli._check_file_settings(settings, path)


# ---- TOML out.  The values are strings, integers and booleans (PCConfig's types), so a
# writer of those is all that is needed; keys keep PCConfig's order.

def _toml_string(s):
    out = ['"']
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    return _toml_string(str(v))


def to_toml(name, settings):
    from core import pc as pcmod
    order = [k for k in pcmod.PCConfig.keys() if k in settings]
    lines = ["# cycle86 machine %s ('cycle86 run %s'; docs: README, 'Machines by name')"
             % (name, name)]
    lines += ["%s = %s" % (k, _toml_value(settings[k])) for k in order]
    return "\n".join(lines) + "\n"


def save(name, settings):
    """Write machine `name` atomically (a new file renamed over the old one)."""
    path = path_of(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(to_toml(name, settings))
    os.replace(tmp, path)
    return path


# ---- settings from the command line

def _given(args):
    """The machine settings the options give (core/cli.add_machine_settings), checked by
    the rules a machine file's values obey; files made absolute."""
    from core import cli as corecli
    given = {k: getattr(args, k) for k in corecli.RUN_KEYS
             if getattr(args, k, None) is not None}
    for k in PATH_KEYS:
        v = given.get(k)
        if isinstance(v, str) and v not in _firmware_names() and v != "none":
            given[k] = str(Path(v).expanduser().resolve())
    if "initrd" in given:
        given["initrd"] = ",".join(_absolute_first_word(e) for e in given["initrd"].split(",")
                                   if e.strip())
    for k in DISK_SLOTS + ("cdrom", "kernel"):
        if k in given and not os.path.isfile(given[k]):
            raise MachineError("--%s %s: no such file" % (k, given[k]))
    return given


def _absolute_first_word(entry):
    words = entry.strip().split(None, 1)
    words[0] = str(Path(words[0]).expanduser().resolve())
    return " ".join(words)


def _firmware_names():
    from core import pc as pcmod
    return set(pcmod.FIRMWARE_NAMES) | set(pcmod.VGABIOS_NAMES)


def _check(settings):
    """Build the PCConfig the way `run` does, to refuse what run would refuse."""
    from core import pc as pcmod
    from core.models import coprocessor, get_model
    config = pcmod.PCConfig(**settings)
    try:
        model = get_model(config.cpu or pcmod.DEFAULT_CPU[config.machine])
        coprocessor(model, config.fpu)
    except ValueError as e:
        raise MachineError(str(e)) from None


# ---- the subcommands

def _new(args):
    path = path_of(args.name)
    if path.exists() and not args.force:
        raise MachineError("machine %r exists (%s); use 'cycle86 machine edit' or --force"
                           % (args.name, path))
    settings = _given(args)
    if not args.no_overlays:
        settings["overlays"] = str(overlay_dir_of(args.name))
    _check(settings)
    if args.force:
        _discard(args.name, DISK_SLOTS)
    save(args.name, settings)
    print("machine %s: %s" % (args.name, path))
    return 0


def _list(args):
    rows = []
    for name in names():
        try:
            s = load(name)
        except Exception as e:            # a damaged file is listed, not fatal
            rows.append((name, "?", "?", "error: %s" % e))
            continue
        media = ", ".join("%s=%s" % (k, os.path.basename(s[k]))
                          for k in DISK_SLOTS + ("cdrom", "kernel") if s.get(k))
        rows.append((name, s.get("cpu") or "(default)", _size(s.get("memory")), media or "-"))
    if not rows:
        print("no machines in %s ('cycle86 machine new NAME ...' makes one)" % machine_dir())
        return 0
    width = max(len(r[0]) for r in rows)
    for r in rows:
        print("%-*s  %-9s %-6s %s" % (width, r[0], r[1], r[2], r[3]))
    return 0


def _size(n):
    if n is None:
        return "(32M)"
    for unit, shift in (("G", 30), ("M", 20), ("K", 10)):
        if n % (1 << shift) == 0:
            return "%d%s" % (n >> shift, unit)
    return str(n)


def _show(args):
    from core import pc as pcmod
    settings = load(args.name)
    print("# %s" % path_of(args.name))
    sys.stdout.write(path_of(args.name).read_text())
    config = pcmod.PCConfig(**settings)
    config.cpu = config.cpu or pcmod.DEFAULT_CPU[config.machine]
    print("# effective: machine %s, cpu %s%s, %s RAM, boot %s"
          % (config.machine, config.cpu, (" + " + config.fpu) if config.fpu else "",
             _size(config.memory), config.boot or "the first medium given"))
    if config.overlays:
        for slot in DISK_SLOTS:
            journal = Path(config.overlays) / (slot + ".overlay")
            if journal.is_file():
                print("# %s overlay: %s (%d bytes)" % (slot, journal, journal.stat().st_size))
    return 0


def _edit(args):
    settings = load(args.name)
    given = _given(args)
    unset = set()
    for key in args.unset or ():
        k = key.replace("-", "_")
        from core import pc as pcmod
        if k not in pcmod.PCConfig.keys() or k == "bios_only":
            raise MachineError("--unset %s: not a machine key" % key)
        unset.add(k)
    if not given and not unset and not args.discard_overlays:
        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
        if not editor:
            raise MachineError("nothing to change: give options (see 'cycle86 machine edit "
                               "-h'), or set $EDITOR to edit %s" % path_of(args.name))
        return subprocess.call(editor.split() + [str(path_of(args.name))])
    changed_disks = [k for k in DISK_SLOTS
                     if (k in given and given[k] != settings.get(k)) or k in unset]
    settings.update(given)
    for k in unset:
        settings.pop(k, None)
    _check(settings)
    # An overlay belongs to the image it was made over: a new image starts clean.
    dropped = _discard(args.name, DISK_SLOTS if args.discard_overlays else changed_disks,
                       settings.get("overlays"))
    save(args.name, settings)
    print("machine %s: %s%s" % (args.name, path_of(args.name),
                                "; dropped the overlays of %s" % ", ".join(dropped)
                                if dropped else ""))
    return 0


def _discard(name, slots, overlays=None):
    d = Path(overlays) if overlays else overlay_dir_of(name)
    dropped = []
    for slot in slots:
        journal = d / (slot + ".overlay")
        if journal.is_file():
            journal.unlink()
            dropped.append(slot)
    return dropped


def _rm(args):
    path = path_of(args.name)
    if not path.is_file():
        raise MachineError("no machine %r (no %s)" % (args.name, path))
    try:
        overlays = load(args.name).get("overlays")
    except Exception:
        overlays = None
    path.unlink()
    for d in {str(overlay_dir_of(args.name)), overlays}:
        # Only the overlay directory this command made (its default place) or named in
        # the file, and only its journals: never a disk image.
        if d and os.path.isdir(d):
            for slot in DISK_SLOTS:
                journal = os.path.join(d, slot + ".overlay")
                if os.path.isfile(journal):
                    os.unlink(journal)
            if not os.listdir(d):
                os.rmdir(d)
    print("removed machine %s" % args.name)
    return 0


def add_subparser(subparsers):
    from core import cli as corecli
    p = subparsers.add_parser(
        "machine", help=corecli.COMMAND_HELP["machine"],
        description="Manage machines by name: TOML machine files in %s (set "
                    "CYCLE86_MACHINES to use another directory). 'cycle86 run NAME' and "
                    "'cycle86 debug NAME' start one." % machine_dir())
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    new = sub.add_parser("new", help="create a machine from run's options",
                         description="Create machine NAME with the given settings (the "
                                     "options of 'cycle86 run'). Its disks get overlays "
                                     "that persist between runs unless --no-overlays.")
    new.add_argument("name", metavar="NAME")
    corecli.add_machine_settings(new)
    new.add_argument("--no-overlays", action="store_true",
                     help="keep the guest's disk writes in memory only (lost at exit)")
    new.add_argument("--force", action="store_true",
                     help="replace an existing machine of that name (and drop its overlays)")
    sub.add_parser("list", help="list the machines")
    show = sub.add_parser("show", help="print a machine's file and effective settings")
    show.add_argument("name", metavar="NAME")
    edit = sub.add_parser("edit", help="change settings (or open $EDITOR with none given)")
    edit.add_argument("name", metavar="NAME")
    corecli.add_machine_settings(edit)
    edit.add_argument("--unset", metavar="KEY", action="append",
                      help="remove a key (back to its default); repeatable")
    edit.add_argument("--discard-overlays", action="store_true",
                      help="drop the disks' overlays: the guest sees the images as they are")
    rm = sub.add_parser("rm", help="remove a machine and its overlays (never a disk image)")
    rm.add_argument("name", metavar="NAME")
    return p


ACTIONS = {"new": _new, "list": _list, "show": _show, "edit": _edit, "rm": _rm}


def cli_main(args):
    from core import cli as corecli
    from core import pc as pcmod
    try:
        return ACTIONS[args.action](args)
    except (MachineError, pcmod.PlatformError) as e:
        raise corecli.CliError(str(e)) from None
    except OSError as e:
        raise corecli.CliError("%s: %s" % (getattr(e, "filename", "") or machine_dir(),
                                           e.strerror or e)) from None
