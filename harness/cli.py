"""The ``harness`` command.

Exit codes: 0 when everything asked for holds, 1 when a threshold fails (or fuzzing
finds a violation), 2 for bad input or usage. A user's mistake gets one line
naming the file, field and line, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness._cpus import usable_cpus
from harness.errors import HarnessError, UsageError

if TYPE_CHECKING:
    from harness.runner import Budgets

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


#: The most trials per scenario and model one run may ask for: a matrix is planned
#: whole before the first trial, so a mistyped count must not eat the machine's memory.
MAX_TRIALS = 100_000


class _Help(argparse.HelpFormatter):
    """Shows an option's default where it has a meaningful one."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (action.default not in (None, False, [], argparse.SUPPRESS)
                and "%(default)" not in text and "default" not in text
                and action.option_strings):
            text += " (default: %(default)s)"
        return text


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Help)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        where = self.prog.removeprefix("harness").strip()
        raise UsageError(f"{where}: {message}" if where else message)


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("harness")
    except Exception:  # not installed as a distribution (a source tree on sys.path)
        return "unknown"


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="harness", description="Evaluate and chaos-test LLM agents.")
    p.add_argument("--version", action="version", version=f"harness {_version()}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sub.add_parser("demo", help="run one multi-role agent offline on the scripted model")
    sub.add_parser("diagram", help="print the state machine's transition table as Mermaid")

    sc = sub.add_parser("scenarios", help="list and validate scenario files")
    sc.add_argument("paths", nargs="+", metavar="PATH", help="scenario files or folders")

    run = sub.add_parser("run", help="run scenario suites and judge them on their thresholds")
    run.add_argument("paths", nargs="+", metavar="PATH", help="scenario files or folders")
    run.add_argument("--model", action="append", default=[], metavar="M",
                     help="model to run every role on (repeat to compare models)")
    run.add_argument("--trials", type=int, metavar="N",
                     help=f"trials per scenario and model, at most {MAX_TRIALS:,} "
                     "(default: each scenario's own)")
    run.add_argument("--seed", type=int, default=0, metavar="S",
                     help="base seed; each trial's seed derives from it, the scenario and "
                     "the trial number")
    run.add_argument("--faults", metavar="PROFILE",
                     help="fault profile for every scenario: none, flaky-tools, hostile-tools, "
                     "api-brownout, crashy, chaos, a registered one or package.module:attr "
                     "(default: each scenario's own)")
    run.add_argument("--budgets", metavar="on,off", default=None,
                     help="run every trial with the agent's budget limits (on), with every "
                     "limit removed (off), or both, paired on the same seeds (on,off); "
                     "default on")
    run.add_argument("--no-budgets", action="store_true",
                     help="the same as --budgets off: every budget limit removed")
    run.add_argument("--concurrency", type=int, default=32, metavar="C",
                     help="trials in flight at once in each process")
    run.add_argument("--workers", type=int, default=None, metavar="N",
                     help="processes to spread trials over (default: one per usable core, "
                     f"{usable_cpus()} here, capped by the trials to run; 1 with --transport live)")
    run.add_argument("--transport", choices=("simulated", "replay", "live"), default="simulated",
                     help="what answers the model calls: a seeded simulation of model "
                     "profiles, recorded cassettes, or the network (needs ANTHROPIC_API_KEY)")
    run.add_argument("--record", action="store_true",
                     help="write every model call to cassettes (see --cassettes)")
    run.add_argument("--cassettes", metavar="DIR",
                     help="where cassettes are replayed from or recorded to "
                     "(default: cassettes/ beside each scenario file)")
    run.add_argument("--out", metavar="DIR",
                     help="run folder (default: a new folder reports/<name>/<time>, with "
                     "reports/<name>/latest pointing at it)")
    run.add_argument("--name", metavar="NAME",
                     help="run name for the default folder (default: the scenario paths' names)")
    run.add_argument("--resume", action="store_true",
                     help="continue an interrupted run (without --out: reports/<name>/latest)")
    run.add_argument("--no-trace", action="store_true", help="do not write spans")
    run.add_argument("--backend", choices=("local", "temporal"), default="local",
                     help="where trials run: local processes, or workflows on a Temporal "
                     "server served by `harness worker` processes (needs the temporal extra)")
    _temporal_args(run)
    run.add_argument("--fsync-interval", type=float, default=None, metavar="S",
                     help="sync trials.jsonl to disk at most every S seconds (default 1; 0: "
                     "after every trial). A killed run loses no line either way: this only "
                     "bounds what a power loss can cost")

    wk = sub.add_parser("worker", help="serve trials of runs on a Temporal server "
                        "(any number, on any number of machines)")
    _temporal_args(wk)

    ap = sub.add_parser("approve", help="deliver a person's decision to a trial of a Temporal "
                        "run that waits for one")
    ap.add_argument("run", metavar="RUN", help="the run folder")
    ap.add_argument("trial", metavar="TRIAL", nargs="?",
                    help="the trial (its run id, scenario/model/profile/n); default: list the "
                    "trials waiting for a decision")
    ap.add_argument("--decision", choices=("approve", "deny", "edit"), default="approve",
                    help="the decision")
    ap.add_argument("--edited-input", metavar="JSON", help="with --decision edit: the input "
                    "to use instead, as JSON")
    ap.add_argument("--note", default="", help="a note kept with the decision")
    ap.add_argument("--temporal-address", metavar="HOST:PORT",
                    help="the server (default: the one the run used, from its temporal.json)")
    ap.add_argument("--namespace", metavar="N", help="namespace (default: the run's)")
    ap.add_argument("--request", metavar="ID", help="which pending request (its effect id; "
                    "default: the only one)")
    ap.add_argument("--payload-store", metavar="DIR", help="where the run keeps payloads "
                    "too large for Temporal's history (default: the run's, from its "
                    "temporal.json, else the per-user cache folder)")

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
    imp.add_argument("format", choices=("taubench",), metavar="FORMAT",
                     help="the recorder's format: taubench (historical_trajectories/*.json)")
    imp.add_argument("file", metavar="FILE", help="the recorded results to import")
    imp.add_argument("--out", metavar="DIR", required=True,
                     help="the run folder to write (trials.jsonl, transcripts.jsonl, report)")
    imp.add_argument("--model", metavar="M", help="model name (default: from FILE's name, "
                     "MODEL-DOMAIN.json)")
    imp.add_argument("--domain", metavar="D", help="airline, retail (default: from FILE's name)")

    bud = sub.add_parser("budgets", help="propose per-scenario limits from a measured run, "
                         "show what completion each would have cost, and write them")
    bud.add_argument("run", metavar="RUN", help="a run folder (run.json and trials.jsonl)")
    bud.add_argument("--quantile", type=float, default=0.99, metavar="Q",
                     help="quantile of the goal-met trials' use to start from, in (0, 1); "
                     "needs at least ceil(1/(1-Q)) goal-met trials of each scenario")
    bud.add_argument("--margin", type=float, default=1.2, metavar="M",
                     help="factor over the quantile, at least 1")
    bud.add_argument("--model", metavar="M",
                     help="propose from this model's trials, or 'all' to pool every model "
                     "(default: configured, or the run's only model)")
    bud.add_argument("--faults", metavar="PROFILE",
                     help="propose from this fault profile's trials, or 'all' (default: "
                     "none, or the run's only profile)")
    bud.add_argument("--write", action="store_true",
                     help="set agent.limits in each scenario file in place (comments and "
                     "layout kept); refused if a file changed since the run")

    fz = sub.add_parser("fuzz", help="search fault schedules for invariant violations")
    fz.add_argument("scenario", metavar="SCENARIO", help="the scenario file to fuzz")
    fz.add_argument("--examples", type=int, default=100, metavar="N",
                    help="fault schedules to try")
    fz.add_argument("--seed", type=int, default=0, metavar="S", help="the search's seed")
    fz.add_argument("--out", metavar="DIR", default="reports/fuzz",
                    help="where case files of violations are written")
    fz.add_argument("--model", metavar="M", help="run every role on this model")

    rp = sub.add_parser("replay", help="reproduce a fuzzing case file exactly")
    rp.add_argument("case", metavar="CASE", help="a case file written by harness fuzz")
    return p


def _temporal_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--temporal-address", metavar="HOST:PORT",
                   help="the Temporal server's frontend (with --backend temporal)")
    p.add_argument("--namespace", default="default", metavar="N", help="Temporal namespace")
    p.add_argument("--task-queue", default="harness", metavar="Q", help="Temporal task queue")
    p.add_argument("--payload-store", metavar="DIR",
                   help="folder where payloads too large for Temporal's history are kept by "
                   "reference; the run and all its workers must share it (a shared mount "
                   "across machines). Default: $XDG_CACHE_HOME/harness/temporal-payloads, "
                   "else ~/.cache/harness/temporal-payloads")
    if p.prog.endswith("run"):
        p.add_argument("--failover", type=float, default=10.0, metavar="S",
                       help="seconds a trial waits for a lost worker (no pick-up, no "
                       "heartbeat) before another worker rebuilds it and carries on")
        p.add_argument("--history-limit", type=int, default=10_000, metavar="N",
                       help="events in a trial's workflow history past which it continues "
                       "as new")
        p.add_argument("--local-activities", choices=("auto", "on", "off"),
                       help="perform a trial's effects as local activities on the worker "
                       "running its workflow (auto: on, except with --transport live)")


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
    except KeyboardInterrupt as err:  # Ctrl-C (130), or SIGTERM during a run (143)
        print("harness: interrupted", file=sys.stderr)
        return int(getattr(err, "exit_code", 130))
    except SystemExit as exit_:  # --help and --version
        return int(exit_.code or 0)


def _positive(name: str, value: int | None, most: int | None = None) -> None:
    if value is not None and value < 1:
        raise UsageError(f"{name} must be at least 1, not {value}")
    if value is not None and most is not None and value > most:
        raise UsageError(f"{name} must be at most {most:,}, not {value:,}")


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
    if args.command in ("worker", "approve"):
        return _temporal_command(args)
    if args.command in ("report", "compare", "import"):
        from harness.report._cli import compare_main, import_main, report_main

        mains = {"report": report_main, "compare": compare_main, "import": import_main}
        return mains[args.command](args)
    if args.command == "budgets":
        from harness.budgets._cli import budgets_main

        return budgets_main(args)
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

    _positive("--trials", args.trials, MAX_TRIALS)
    _positive("--concurrency", args.concurrency)
    _positive("--workers", args.workers)
    if args.fsync_interval is not None and not args.fsync_interval >= 0:
        raise UsageError(f"--fsync-interval must be 0 or more seconds, not {args.fsync_interval}")
    if args.faults is not None:
        from harness.faults import profile_rates

        try:
            profile_rates(args.faults)
        except HarnessError as err:
            detail = str(err).removeprefix("field 'faults.profile': ")
            raise UsageError(f"--faults: {detail}") from None
    if args.model:
        from harness.llm import load_prices

        for m in args.model:
            try:
                load_prices().price(m)
            except HarnessError as err:
                raise UsageError(f"--model {m}: {err}") from None
    from harness.runner import check_name, default_name

    if args.out is not None and not args.out.strip():
        raise UsageError("--out: the path is empty")
    if args.cassettes is not None and not args.cassettes.strip():
        raise UsageError("--cassettes: the path is empty")
    name = check_name(args.name) if args.name is not None else default_name(args.paths)
    budgets = _budgets(args.budgets, args.no_budgets)
    opts = SuiteOptions(
        paths=tuple(args.paths), models=tuple(args.model), trials=args.trials, seed=args.seed,
        faults=args.faults, concurrency=args.concurrency, transport=args.transport,
        out=Path(args.out) if args.out is not None else None, name=name,
        cassettes=Path(args.cassettes) if args.cassettes is not None else None,
        resume=args.resume, workers=args.workers, record=args.record,
        tracing=not args.no_trace, budgets=budgets,
        temporal=_temporal_options(args),
        **({} if args.fsync_interval is None else {"fsync_interval_s": args.fsync_interval}),
    )
    result = run_suite(opts)
    print_summary(result.report.summary)
    print(f"\n{len(result.results)} trials; results in {result.out / 'trials.jsonl'}; "
          f"report in {result.out / 'report.html'}")
    return EXIT_OK if result.passed else EXIT_FAILED


def _budgets(given: str | None, off: bool) -> tuple[Budgets, ...]:
    """``--budgets`` and ``--no-budgets`` (``--budgets off``), which must not disagree."""
    from harness.runner import parse_budgets

    if given is None:
        return ("off",) if off else ("on",)
    variants = parse_budgets(given)
    if off and variants != ("off",):
        raise UsageError(f"--no-budgets means --budgets off, not --budgets {given}: "
                         "give one of them")
    return variants
def _temporal_options(args: argparse.Namespace) -> Any:
    if args.backend != "temporal":
        for flag in ("temporal_address", "payload_store", "local_activities"):
            if getattr(args, flag) is not None:
                raise UsageError(f"--{flag.replace('_', '-')} is for --backend temporal")
        return None
    if not args.temporal_address:
        raise UsageError("--backend temporal needs --temporal-address HOST:PORT")
    _need_temporal()
    from harness.temporal import TemporalOptions

    if not args.failover > 0:
        raise UsageError(f"--failover must be more than 0 seconds, not {args.failover}")
    _positive("--history-limit", args.history_limit)
    return TemporalOptions(args.temporal_address, args.namespace, args.task_queue,
                           failover_s=args.failover, history_limit=args.history_limit,
                           local_activities={None: None, "auto": None, "on": True,
                                             "off": False}[args.local_activities],
                           payload_store=_payload_store(args))


def _payload_store(args: argparse.Namespace) -> Path | None:
    if args.payload_store is None:
        return None
    if not args.payload_store.strip():
        raise UsageError("--payload-store: the path is empty")
    from harness.temporal._payloads import check_store

    return check_store(Path(args.payload_store))


def _need_temporal() -> None:
    try:
        import temporalio  # noqa: F401
    except ImportError:
        raise UsageError("the Temporal backend needs its extra: pip install 'harness[temporal]'"
                         ) from None


def _temporal_command(args: argparse.Namespace) -> int:
    _need_temporal()
    if args.command == "worker":
        if not args.temporal_address:
            raise UsageError("worker: --temporal-address HOST:PORT is required")
        from harness.temporal._worker import worker_main

        return worker_main(args.temporal_address, args.namespace, args.task_queue,
                           payload_store=_payload_store(args))
    from harness.temporal._approve import approve_main

    return approve_main(args)


def entry() -> None:
    """Console-script entry: a closed pipe (``harness demo | head``) is not an error."""
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = EXIT_OK
    if "temporalio" in sys.modules:
        # the Temporal SDK's native threads may still hold the GIL's thread state while the
        # interpreter finalizes, which aborts the process and loses the exit code: everything
        # is written and closed by now, so leave without finalizing
        import os

        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    entry()
