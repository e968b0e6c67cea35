"""The child side: run a batch of cases of one target and report each as a JSON line.

Before a case starts, a {"start": SEED} line is written and flushed to the results file;
when it ends, a {"seed": SEED, "outcome": ..., ...} line.  A child that dies in between
(a signal, an abort, os._exit) leaves the start line as the last word, which is how the
parent knows which case crashed; a child that stops writing is a hang, which only the
parent decides (the child never reads the host clock to judge a guest).

A Python exception that escapes a case is reported with its traceback and the batch
goes on.  So is an exception a device raised under the CPU: the bus catches those so
that a device bug cannot tear down the run loop, and prints them; here they are
collected and count as the case's escaped exception.
"""
import gc
import json
import os
import shutil
import sys
import tempfile
import traceback

from tests.fuzz import EXCEPTION

_device_errors = []


def _collect_device_error(what, exc):
    _device_errors.append("device error during %s: %s" % (
        what, "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))))


def install_device_error_hook():
    """Count device exceptions the bus would otherwise only print."""
    from core import bus
    bus._report_device_error = _collect_device_error


def rss_kib():
    """The resident set of this process in KiB (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
    except (OSError, ValueError, IndexError):
        return 0


def run_case(target, seed, work):
    """Run one case in a fresh directory under `work`; the result dict (outcome, counts).
    The directory is removed afterwards unless the case was a bug, so that its inputs
    can be kept with the reproducer."""
    from tests.fuzz.targets import SELFTEST, TARGETS
    case_dir = os.path.join(work, "%s-%d" % (target, seed))
    os.makedirs(case_dir, exist_ok=True)
    del _device_errors[:]
    try:
        result = {**TARGETS, **SELFTEST}[target](seed, case_dir)
    except Exception:
        result = {"outcome": EXCEPTION, "detail": traceback.format_exc()}
    if _device_errors and result.get("outcome") != EXCEPTION:
        result = dict(result, outcome=EXCEPTION, detail="\n".join(_device_errors[:3]))
    # A machine is a graph of objects with cycles (devices and the machine refer to each
    # other), freed by the cycle collector, whose full passes are rare: a process that
    # builds machine after machine holds dozens of dead ones (and their RAM) until one
    # comes.  Collect after each case, so that the RSS measures what is really kept.
    gc.collect()
    from tests.fuzz import BUGS
    if result.get("outcome") not in BUGS:
        shutil.rmtree(case_dir, ignore_errors=True)
    else:
        result["inputs"] = case_dir
    return result


def main(target, first_seed, count, results=None, work=None, rss_every=0):
    """Run seeds first_seed .. first_seed+count-1; write JSON lines to `results` (a path,
    default stdout).  `rss_every`: also record the RSS every that many cases."""
    from tests.fuzz.targets import SELFTEST, TARGETS
    if target not in TARGETS and target not in SELFTEST:
        raise SystemExit("unknown target %r (choose from %s)" % (target, ", ".join(TARGETS)))
    install_device_error_hook()
    out = open(results, "a", buffering=1) if results else sys.stdout
    own_work = work is None
    work = work or tempfile.mkdtemp(prefix="c86fuzz-")
    try:
        for i in range(count):
            seed = first_seed + i
            out.write(json.dumps({"start": seed}) + "\n")
            out.flush()
            result = run_case(target, seed, work)
            result["seed"] = seed
            if rss_every and (i + 1) % rss_every == 0:
                result["rss_kib"] = rss_kib()
            out.write(json.dumps(result) + "\n")
            out.flush()
    finally:
        if own_work:
            shutil.rmtree(work, ignore_errors=True)
        if out is not sys.stdout:
            out.close()
