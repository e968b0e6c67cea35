"""The parent side: batches of cases in child processes, a watchdog, reproducers, totals.

A batch is `python -m tests.fuzz case TARGET FIRST --count N --results FILE --work DIR`.
Its results file says which cases ended and how (tests/fuzz/child.py); the parent adds
what only it can see: a child killed by a signal or exiting without finishing (the case
it had started is a CRASH), and a child that stops reporting for `timeout` seconds of
wall time (the case it had started is a HANG; the watchdog kills it).  The rest of a
batch after a crash or a hang is run again in a fresh child.

Workers (-j) are threads that each wait on one child: the children do the work.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.fuzz import BUGS, CRASH, HANG

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / "traces" / "fuzz"


def case_command(target, seed, count=1):
    """The command that reruns cases (what a reproducer prints)."""
    cmd = "python -m tests.fuzz case %s %d" % (target, seed)
    return cmd + (" --count %d" % count if count != 1 else "")


def _read_results(path):
    done, started = [], None
    try:
        with open(path) as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue          # a line cut short by a crash
                if "start" in rec:
                    started = rec["start"]
                else:
                    done.append(rec)
                    started = None
    except OSError:
        pass
    return done, started


def run_batch(target, first, count, timeout=60.0, env=None):
    """Run seeds first..first+count-1 of `target` in children; a list of result dicts,
    one per seed (crashes and hangs included)."""
    results = []
    seed, end = first, first + count
    while seed < end:
        tmp = tempfile.mkdtemp(prefix="c86fuzz-batch-")
        res_path = os.path.join(tmp, "results.jsonl")
        work = os.path.join(tmp, "work")
        os.makedirs(work)
        cmd = [sys.executable, "-m", "tests.fuzz", "case", target, str(seed),
               "--count", str(end - seed), "--results", res_path, "--work", work]
        child_env = dict(os.environ, **(env or {}))
        child_env["PYTHONPATH"] = str(ROOT) + os.pathsep + child_env.get("PYTHONPATH", "")
        with open(os.path.join(tmp, "stderr"), "wb") as err:
            proc = subprocess.Popen(cmd, cwd=str(ROOT), stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=err, env=child_env,
                                    start_new_session=True)
            # The watchdog: the child must finish a case every `timeout` seconds.
            last_size, last_change, hung = -1, time.monotonic(), False
            while proc.poll() is None:
                time.sleep(0.05)
                try:
                    size = os.path.getsize(res_path)
                except OSError:
                    size = 0
                now = time.monotonic()
                if size != last_size:
                    last_size, last_change = size, now
                elif now - last_change > timeout:
                    hung = True
                    try:
                        os.killpg(proc.pid, signal.SIGKILL)
                    except OSError:
                        pass
                    proc.wait()
                    break
        done, started = _read_results(res_path)
        with open(os.path.join(tmp, "stderr"), "rb") as f:
            stderr = f.read()[-4000:].decode("utf-8", "replace")
        results.extend(done)
        if done:
            seed = done[-1]["seed"] + 1
        if started is not None or (proc.returncode != 0 and seed < end):
            bad = started if started is not None else seed
            rc = proc.returncode
            how = HANG if hung else CRASH
            detail = ("no case finished for %.0f s (killed)" % timeout if hung else
                      "killed by signal %d (%s)" % (-rc, signal.Signals(-rc).name) if rc < 0
                      else "exited with status %d before finishing" % rc)
            inputs = os.path.join(work, "%s-%d" % (target, bad))
            results.append({"seed": bad, "outcome": how, "detail": detail, "stderr": stderr,
                            "inputs": inputs if os.path.isdir(inputs) else None,
                            "_tmp": tmp})
            seed = bad + 1
            continue
        for r in results:
            if r.get("outcome") in BUGS and r.get("inputs") and "_tmp" not in r:
                r["_tmp"] = tmp
                r.setdefault("stderr", stderr)
        if not any(r.get("_tmp") == tmp for r in results):
            shutil.rmtree(tmp, ignore_errors=True)
    return results


def save_reproducer(out, target, rec):
    """Write a reproducer folder for a bug: README with the command, the result, inputs."""
    d = Path(out) / ("%s-%d-%s" % (target, rec["seed"], rec["outcome"]))
    d.mkdir(parents=True, exist_ok=True)
    cmd = case_command(target, rec["seed"])
    text = ["cycle86 fuzz reproducer", "",
            "target:  %s" % target, "seed:    %d" % rec["seed"],
            "outcome: %s" % rec["outcome"], "",
            "rerun it from the top of the checkout:", "",
            "    PYTHONPATH=. " + cmd, "",
            "detail:", "", rec.get("detail") or "", ""]
    if rec.get("stderr"):
        text += ["the child's stderr (end):", "", rec["stderr"], ""]
    (d / "README.txt").write_text("\n".join(text))
    (d / "result.json").write_text(json.dumps({k: v for k, v in rec.items()
                                               if not k.startswith("_")}, indent=1) + "\n")
    inputs = rec.get("inputs")
    if inputs and os.path.isdir(inputs):
        shutil.copytree(inputs, d / "inputs", dirs_exist_ok=True)
    return d


# The counts a result may carry, added up over a campaign.
COUNTS = ("insns", "cycles", "port_ops", "mmio_ops", "dma_setups", "files", "packets")


class Campaign:
    """Totals of a campaign: outcomes, instructions, cases by target; the bugs."""

    def __init__(self, out=DEFAULT_OUT):
        self.out = out
        self.outcomes = Counter()
        self.by_target = Counter()
        self.counts = Counter()
        self.insns_by_mode = Counter()   # "model/mode" -> guest instructions (cpu target)
        self.kinds = Counter()           # "kind/outcome" of the files target
        self.bugs = []
        self.lock = threading.Lock()

    def add(self, target, results):
        tmps = set()
        with self.lock:
            for r in results:
                self.outcomes[r["outcome"]] += 1
                self.by_target[target] += 1
                for key in COUNTS:
                    if isinstance(r.get(key), int):
                        self.counts[key] += r[key]
                if "model" in r and "mode" in r and isinstance(r.get("insns"), int):
                    self.insns_by_mode["%s/%s" % (r["model"], r["mode"])] += r["insns"]
                if "kind" in r:
                    self.kinds["%s/%s" % (r["kind"], r["outcome"])] += 1
                if r["outcome"] in BUGS:
                    path = save_reproducer(self.out, target, r) if self.out else None
                    self.bugs.append((target, r, path))
                tmps.add(r.pop("_tmp", None))
        # A bug's batch folder has been copied into its reproducer.
        for tmp in tmps - {None}:
            shutil.rmtree(tmp, ignore_errors=True)
        return results

    def summary(self):
        return {"cases": dict(self.by_target), "outcomes": dict(self.outcomes),
                "counts": dict(self.counts),
                "insns_by_mode": dict(sorted(self.insns_by_mode.items())),
                "file_kinds": dict(sorted(self.kinds.items())),
                "bugs": [{"target": t, "seed": r["seed"], "outcome": r["outcome"],
                          "reproducer": str(p) if p else None,
                          "detail": (r.get("detail") or "").strip().splitlines()[-1:]}
                         for t, r, p in self.bugs]}


def run_campaign(targets, first_seed, cases, jobs=1, batch=25, timeout=60.0, out=DEFAULT_OUT,
                 progress=None):
    """Run `cases` seeds of each target from `first_seed`, `jobs` children at a time."""
    camp = Campaign(out)
    work = []
    for target in targets:
        for first in range(first_seed, first_seed + cases, batch):
            work.append((target, first, min(batch, first_seed + cases - first)))

    def one(item):
        target, first, count = item
        results = run_batch(target, first, count, timeout=timeout)
        camp.add(target, results)
        if progress is not None:
            progress(target, first, count, results)
        return results

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        list(pool.map(one, work))
    return camp
