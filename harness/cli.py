"""The ``harness`` command.

Exit codes: 0 when everything asked for holds, 1 when a threshold fails (or fuzzing
finds a violation), 2 for bad input or usage. A user's mistake gets one line
naming the file, field and line, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.errors import HarnessError, UsageError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        where = self.prog.removeprefix("harness").strip()
        raise UsageError(f"{where}: {message}" if where else message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="harness", description="Evaluate and chaos-test LLM agents.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sub.add_parser("demo", help="run one multi-role agent offline on the scripted model")
    sub.add_parser("diagram", help="print the state machine's transition table as Mermaid")

    sc = sub.add_parser("scenarios", help="list and validate scenario files")
    sc.add_argument("paths", nargs="+", metavar="PATH")

    run = sub.add_parser("run", help="run scenario suites and judge them on their thresholds")
    run.add_argument("paths", nargs="+", metavar="PATH", help="scenario files or folders")
    run.add_argument("--model", action="append", default=[], metavar="M",
                     help="model to run every role on (repeat to compare models)")
    run.add_argument("--trials", type=int, metavar="N", help="trials per scenario and model")
    run.add_argument("--seed", type=int, default=0, metavar="S")
    run.add_argument("--faults", metavar="PROFILE",
                     help="none, flaky-tools, hostile-tools, api-brownout, crashy, chaos")
    run.add_argument("--concurrency", type=int, default=32, metavar="C")
    run.add_argument("--workers", type=int, default=1, metavar="N",
                     help="processes to spread trials over")
    run.add_argument("--transport", choices=("simulated", "replay", "live"), default="simulated")
    run.add_argument("--record", action="store_true",
                     help="write every model call to cassettes beside the scenarios")
    run.add_argument("--out", metavar="DIR", help="run folder (default reports/<run-name>)")
    run.add_argument("--name", metavar="RUN", help="run name for the default --out")
    run.add_argument("--resume", action="store_true", help="continue an interrupted run")
    run.add_argument("--no-trace", action="store_true", help="do not write spans")
    run.add_argument("--fsync-interval", type=float, default=None, metavar="S",
                     help="sync trials.jsonl to disk at most every S seconds (default 1; 0: "
                     "after every trial). A killed run loses no line either way: this only "
                     "bounds what a power loss can cost")

    rep = sub.add_parser("report", help="write the report files of a finished run or of any "
                         "trials.jsonl in the documented schema")
    rep.add_argument("path", metavar="PATH", help="run folder or trials.jsonl")
    rep.add_argument("--out", metavar="DIR", help="where to write (default: the run folder)")
    rep.add_argument("--seed", type=int, default=0, metavar="S", help="bootstrap seed")

    cmp_ = sub.add_parser("compare", help="compare runs, each against the one before: "
                          "completion (exact McNemar), cost, regressed scenarios")
    cmp_.add_argument("runs", nargs="+", metavar="RUN", help="run folders or trials.jsonl")
    cmp_.add_argument("--out", metavar="DIR", help="also write compare.json and compare.md")
    cmp_.add_argument("--seed", type=int, default=0, metavar="S", help="bootstrap seed")

    imp = sub.add_parser("import", help="turn another system's recorded results into a run "
                         "folder (trials.jsonl, transcripts.jsonl) and report it")
    imp.add_argument("format", choices=("taubench",), metavar="FORMAT", help="taubench")
    imp.add_argument("file", metavar="FILE")
    imp.add_argument("--out", metavar="DIR", required=True)
    imp.add_argument("--model", metavar="M", help="model name (default: from FILE's name, "
                     "MODEL-DOMAIN.json)")
    imp.add_argument("--domain", metavar="D", help="airline, retail (default: from FILE's name)")

    fz = sub.add_parser("fuzz", help="search fault schedules for invariant violations")
    fz.add_argument("scenario", metavar="SCENARIO")
    fz.add_argument("--examples", type=int, default=100, metavar="N")
    fz.add_argument("--seed", type=int, default=0, metavar="S")
    fz.add_argument("--out", metavar="DIR", default="reports/fuzz")
    fz.add_argument("--model", metavar="M")

    rp = sub.add_parser("replay", help="reproduce a fuzzing case file exactly")
    rp.add_argument("case", metavar="CASE")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
        return _dispatch(args)
    except UsageError as err:
        print(f"harness: {err}", file=sys.stderr)
        return EXIT_USAGE
    except HarnessError as err:
        print(f"harness: {err}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("harness: interrupted", file=sys.stderr)
        return 130
    except SystemExit as exit_:  # --help and --version
        return int(exit_.code or 0)


def _positive(name: str, value: int | None) -> None:
    if value is not None and value < 1:
        raise UsageError(f"{name} must be at least 1, not {value}")


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "demo":
        from harness.demo import main as demo_main

        return demo_main()
    if args.command == "diagram":
        from harness.core import mermaid

        print(mermaid())
        return EXIT_OK
    if args.command == "scenarios":
        from harness.scenario import describe, load_all

        for ls in load_all(args.paths):
            d = describe(ls)
            print(f"ok  {d['name']:<32} {d['suite']:<18} world={d['world']:<9} "
                  f"trials={d['trials']:<4} faults={d['faults']:<13} {d['file']}")
        return EXIT_OK
    if args.command == "run":
        return _run(args)
    if args.command in ("report", "compare", "import"):
        from harness.report._cli import compare_main, import_main, report_main

        mains = {"report": report_main, "compare": compare_main, "import": import_main}
        return mains[args.command](args)
    if args.command == "fuzz":
        from harness.fuzz import fuzz_main

        return fuzz_main(args.scenario, examples=args.examples, seed=args.seed,
                         out=Path(args.out), model=args.model)
    if args.command == "replay":
        from harness.fuzz import replay_main

        return replay_main(args.case)
    raise UsageError(f"unknown command {args.command!r}")


def _run(args: argparse.Namespace) -> int:
    from harness.report import print_summary
    from harness.runner import SuiteOptions, run_suite

    _positive("--trials", args.trials)
    _positive("--concurrency", args.concurrency)
    _positive("--workers", args.workers)
    if args.fsync_interval is not None and not args.fsync_interval >= 0:
        raise UsageError(f"--fsync-interval must be 0 or more seconds, not {args.fsync_interval}")
    if args.faults is not None:
        from harness.faults import PROFILES

        if args.faults not in PROFILES:
            raise UsageError(f"--faults: unknown profile {args.faults!r}; choose one of "
                             f"{', '.join(PROFILES)}")
    if args.model:
        from harness.llm import load_prices

        for m in args.model:
            try:
                load_prices().price(m)
            except HarnessError as err:
                raise UsageError(f"--model {m}: {err}") from None
    name = args.name or "-".join(Path(p).stem for p in args.paths[:3])
    out = Path(args.out) if args.out else Path("reports") / name
    opts = SuiteOptions(
        paths=tuple(args.paths), models=tuple(args.model), trials=args.trials, seed=args.seed,
        faults=args.faults, concurrency=args.concurrency, transport=args.transport, out=out,
        resume=args.resume, workers=args.workers, record=args.record,
        tracing=not args.no_trace,
        **({} if args.fsync_interval is None else {"fsync_interval_s": args.fsync_interval}),
    )
    result = run_suite(opts)
    print_summary(result.report.summary)
    print(f"\n{len(result.results)} trials; results in {result.out / 'trials.jsonl'}; "
          f"report in {result.out / 'report.html'}")
    return EXIT_OK if result.passed else EXIT_FAILED


def entry() -> None:
    """Console-script entry: a closed pipe (``harness demo | head``) is not an error."""
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = EXIT_OK
    sys.exit(code)


if __name__ == "__main__":
    entry()
