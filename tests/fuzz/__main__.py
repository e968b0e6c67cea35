"""python -m tests.fuzz: run fuzz campaigns, rerun a case, measure memory over a soak.

    python -m tests.fuzz list
    python -m tests.fuzz run [--target T ...] [--seed S] [--cases N] [-j J] [--out DIR]
    python -m tests.fuzz case TARGET SEED [--count N]
    python -m tests.fuzz soak TARGET [--seed S] [--cases N] [--every K]

See docs/fuzzing.md.
"""
import argparse
import json
import sys
import time


def _targets():
    from tests.fuzz.targets import TARGETS
    return TARGETS


def cmd_list(args):
    from tests.fuzz.targets import DESCRIPTIONS
    for name in _targets():
        print("%-10s %s" % (name, DESCRIPTIONS.get(name, "")))
    return 0


def cmd_case(args):
    from tests.fuzz import child
    child.main(args.target, args.seed, args.count, results=args.results, work=args.work,
               rss_every=args.rss_every)
    return 0


def cmd_run(args):
    from tests.fuzz import runner
    targets = args.target or list(_targets())
    unknown = [t for t in targets if t not in _targets()]
    if unknown:
        print("unknown target(s): %s (choose from %s)"
              % (", ".join(unknown), ", ".join(_targets())), file=sys.stderr)
        return 2
    t0 = time.monotonic()

    def progress(target, first, count, results):
        if not args.quiet:
            bugs = [r for r in results if r["outcome"] not in ("ok", "guest-fault",
                                                                "user-error")]
            print("%-8s seeds %d..%d: %d cases, %d bugs" % (target, first, first + count - 1,
                                                           len(results), len(bugs)),
                  file=sys.stderr, flush=True)

    camp = runner.run_campaign(targets, args.seed, args.cases, jobs=args.jobs,
                               batch=args.batch, timeout=args.timeout,
                               out=None if args.out == "none" else args.out,
                               progress=progress)
    summary = camp.summary()
    summary["wall_seconds"] = round(time.monotonic() - t0, 1)
    print(json.dumps(summary, indent=1))
    return 1 if camp.bugs else 0


def cmd_soak(args):
    """One child runs many cases; its RSS is sampled every `every` cases."""
    import os
    import subprocess
    import tempfile
    from tests.fuzz import runner
    with tempfile.TemporaryDirectory() as tmp:
        res = os.path.join(tmp, "results.jsonl")
        subprocess.run([sys.executable, "-m", "tests.fuzz", "case", args.target,
                        str(args.seed), "--count", str(args.cases), "--results", res,
                        "--rss-every", str(args.every)], cwd=str(runner.ROOT), check=False)
        done, started = runner._read_results(res)
    samples = [(r["seed"] - args.seed + 1, r["rss_kib"]) for r in done if "rss_kib" in r]
    print(json.dumps({"target": args.target, "cases": len(done), "crashed_at": started,
                      "rss_kib": samples,
                      "outcomes": {o: sum(1 for r in done if r["outcome"] == o)
                                   for o in sorted({r["outcome"] for r in done})}}, indent=1))
    return 0 if started is None else 1


def build_parser():
    p = argparse.ArgumentParser(prog="python -m tests.fuzz",
                                description="cycle86's fuzz harness (docs/fuzzing.md)")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the targets").set_defaults(func=cmd_list)

    r = sub.add_parser("run", help="run a campaign: cases in child processes")
    r.add_argument("--target", action="append", metavar="T",
                   help="a target (repeatable; default: all)")
    r.add_argument("--seed", type=int, default=0, help="the first seed (default 0)")
    r.add_argument("--cases", type=int, default=100, help="cases per target (default 100)")
    r.add_argument("-j", "--jobs", type=int, default=1, help="children at a time (default 1)")
    r.add_argument("--batch", type=int, default=25, help="cases per child (default 25)")
    r.add_argument("--timeout", type=float, default=60.0,
                   help="seconds a case may take before it counts as a hang (default 60)")
    r.add_argument("--out", default=str(_default_out()),
                   help="where reproducers go (default traces/fuzz; 'none': nowhere)")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    r.set_defaults(func=cmd_run)

    c = sub.add_parser("case", help="run cases in this process (what a child runs)")
    c.add_argument("target")
    c.add_argument("seed", type=int)
    c.add_argument("--count", type=int, default=1)
    c.add_argument("--results", help="append the JSON lines here (default stdout)")
    c.add_argument("--work", help="a folder for the cases' files (default: a temporary one)")
    c.add_argument("--rss-every", type=int, default=0, help=argparse.SUPPRESS)
    c.set_defaults(func=cmd_case)

    s = sub.add_parser("soak", help="many cases in one process: the RSS as it goes")
    s.add_argument("target")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--cases", type=int, default=1000)
    s.add_argument("--every", type=int, default=50, help="sample the RSS every N cases")
    s.set_defaults(func=cmd_soak)
    return p


def _default_out():
    from tests.fuzz.runner import DEFAULT_OUT
    return DEFAULT_OUT


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
