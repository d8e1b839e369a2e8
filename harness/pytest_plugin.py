"""The pytest plugin: scenario files collect as test items, so a suite runs in CI with ``pytest``.

Registered through the ``pytest11`` entry point, so installing ``harness`` is enough.
It collects nothing until told where scenarios live::

    [tool.pytest.ini_options]
    harness_scenarios = ["scenarios"]        # files or folders, relative to the ini file

Every ``*.yaml`` / ``*.yml`` file under those paths (or named on the command line)
becomes one item per scenario x model: the ``--harness-model`` models if given, else
the scenario's ``models:``, else the agent as configured. Running an item runs all
its trials in-process (simulated by default, on a virtual clock) into a temporary run
folder, or under ``--harness-out`` to keep ``trials.jsonl``, the event log and the
spans as CI artifacts, and fails when a threshold fails, with the group's numbers
and the failing trials' failed checks. A malformed scenario is a collection error
that names the file, the field and the line. With no ``harness_scenarios`` set and
no scenario file named, the plugin collects nothing: a project's own ``pytest`` run
never starts a suite by accident.

Run with plain ``pytest`` (testpaths plus the configured scenario paths), or
``pytest scenarios/`` / ``pytest scenarios/customer-support/refund-broken-mug.yaml`` for some.

Options: ``--harness-trials N``, ``--harness-seed S``, ``--harness-transport
simulated|replay|live``, ``--harness-faults PROFILE``, ``--harness-model M``
(repeatable), ``--harness-budgets on|off|on,off``, ``--harness-out DIR``, and ``--live``.

Live model calls stay switched off for the whole session (``harness.llm``'s
live-call switch) unless the run passes ``--live``; a test marked
``@pytest.mark.live`` gets them switched on while it runs.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Generator, Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.runner import SuiteOptions, SuiteResult, TrialResult
    from harness.scenario import LoadedScenario

SUFFIXES = (".yaml", ".yml")
TRANSPORTS = ("simulated", "replay", "live")
FAILING_TRIALS_SHOWN = 3

_paths_key = pytest.StashKey[list[Path]]()
_names_key = pytest.StashKey[dict[str, Path]]()
_groups_key = pytest.StashKey[list[dict[str, Any]]]()
_switch_key = pytest.StashKey[ExitStack]()


# --- configuration -------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "harness: scenario suites as tests")
    group.addoption("--harness-trials", type=int, metavar="N", default=None,
                    help="trials per scenario and model (default: each scenario's `trials`)")
    group.addoption("--harness-seed", type=int, metavar="S", default=0,
                    help="base seed of the trials (default 0)")
    group.addoption("--harness-transport", choices=TRANSPORTS, default="simulated",
                    help="model transport: simulated (default, offline), replay (cassettes "
                    "beside the scenarios) or live (needs --live)")
    group.addoption("--harness-faults", metavar="PROFILE", default=None,
                    help="fault profile for every scenario (default: each scenario's own)")
    group.addoption("--harness-model", action="append", default=[], metavar="M",
                    help="run every role on this model; repeat to compare models "
                    "(one item per model)")
    group.addoption("--harness-budgets", metavar="on,off", default="on",
                    help="budget limits on (default), off (every limit removed) or both, "
                    "paired on the same seeds (on,off)")
    group.addoption("--harness-out", metavar="DIR", default=None,
                    help="keep each item's run folder (trials.jsonl, events, spans) under DIR")
    group.addoption("--live", action="store_true", default=False,
                    help="allow live (networked, paid) model calls for the whole run")
    parser.addini("harness_scenarios", type="paths", default=[],
                  help="scenario files or folders that collect as test items")


def pytest_configure(config: pytest.Config) -> None:
    from harness.llm import live_calls_allowed

    config.addinivalue_line("markers", "live: the test may make live (networked, paid) "
                            "model calls")
    config.addinivalue_line("markers", "harness: a scenario item collected by the harness "
                            "plugin")
    _check_options(config)
    # off for the whole session unless --live; the previous setting comes back at the end
    switch = ExitStack()
    switch.enter_context(live_calls_allowed(bool(config.getoption("live"))))
    config.stash[_switch_key] = switch
    config.stash[_names_key] = {}
    config.stash[_groups_key] = []
    config.stash[_paths_key] = [Path(p).resolve() for p in config.getini("harness_scenarios")]
    _add_scenario_paths(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    switch = config.stash.get(_switch_key, None)
    if switch is not None:
        switch.close()


def _check_options(config: pytest.Config) -> None:
    """Bad option values are usage errors before anything runs."""
    trials = config.getoption("harness_trials")
    if trials is not None and trials < 1:
        raise pytest.UsageError(f"--harness-trials must be at least 1, not {trials}")
    faults = config.getoption("harness_faults")
    if faults is not None:
        from harness.faults import profile_rates

        try:
            profile_rates(faults)
        except HarnessError as err:
            detail = str(err).removeprefix("field 'faults.profile': ")
            raise pytest.UsageError(f"--harness-faults: {detail}") from None
    from harness.runner import parse_budgets

    try:
        parse_budgets(config.getoption("harness_budgets"), "--harness-budgets")
    except HarnessError as err:
        raise pytest.UsageError(str(err)) from None
    models = config.getoption("harness_model")
    if models:
        from harness.llm import load_prices

        for m in models:
            try:
                load_prices().price(m)
            except HarnessError as err:
                raise pytest.UsageError(f"--harness-model {m}: {err}") from None
    if config.getoption("harness_transport") == "live" and not config.getoption("live"):
        raise pytest.UsageError("--harness-transport live makes paid model calls: "
                                "pass --live as well to allow them")


def _add_scenario_paths(config: pytest.Config) -> None:
    """A plain ``pytest`` (arguments from ``testpaths``) also walks the scenario paths."""
    if config.args_source != pytest.Config.ArgsSource.TESTPATHS:
        return
    given = [Path(a).resolve() for a in config.args]
    extra = [str(p) for p in config.stash[_paths_key]
             if p.exists() and not any(p == g or g in p.parents for g in given)]
    if extra:
        config.args = [*config.args, *extra]


def pytest_report_header(config: pytest.Config) -> str | None:
    paths = config.stash.get(_paths_key, [])
    if not paths:
        return None
    opt = config.getoption
    shown = ", ".join(_rel(p, config.rootpath) for p in paths)
    return (f"harness: scenarios in {shown}; transport={opt('harness_transport')} "
            f"seed={opt('harness_seed')} trials={opt('harness_trials') or 'per scenario'} "
            f"faults={opt('harness_faults') or 'per scenario'} "
            f"budgets={opt('harness_budgets')}; "
            f"live calls {'ON' if opt('live') else 'off'}")


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root)) or "."
    except ValueError:
        return str(path)


# --- live marker ---------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None
                            ) -> Generator[None, object, object]:
    """A test marked ``live`` may call the network while it runs (fixtures included)."""
    if item.get_closest_marker("live") is None:
        return (yield)
    from harness.llm import live_calls_allowed

    with live_calls_allowed(True):
        return (yield)


# --- collection ----------------------------------------------------------------------


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> ScenarioFile | None:
    if file_path.suffix not in SUFFIXES:
        return None
    config = parent.config
    configured = config.stash.get(_paths_key, [])
    resolved = file_path.resolve()
    wanted = parent.session.isinitpath(file_path) or any(
        resolved == p or p in resolved.parents for p in configured)
    if not wanted:
        return None
    return ScenarioFile.from_parent(parent, path=file_path)


class ScenarioFile(pytest.File):
    """One scenario file: its items, or a collection error naming file, field and line."""

    def collect(self) -> Iterator[ScenarioItem]:
        from harness.errors import UsageError
        from harness.runner import CONFIGURED
        from harness.scenario import load_scenario

        try:
            loaded = load_scenario(self.path)
        except UsageError as err:
            raise self.CollectError(f"invalid scenario: {err}") from None
        s = loaded.scenario
        names = self.config.stash[_names_key]
        other = names.setdefault(s.name, self.path)
        if other != self.path:
            raise self.CollectError(f"invalid scenario: {self.path}, field 'name': scenario "
                                    f"name {s.name!r} is also used by {other}")
        models: Sequence[str | None] = (self.config.getoption("harness_model") or s.models
                                        or (None,))
        for model in models:
            yield ScenarioItem.from_parent(self, name=f"{s.name}[{model or CONFIGURED}]",
                                           loaded=loaded, model=model)


class ScenarioFailed(Exception):
    """A threshold failed; the message is the whole report."""


class ScenarioItem(pytest.Item):
    """All trials of one scenario on one model, judged on the scenario's thresholds."""

    def __init__(self, *, loaded: LoadedScenario, model: str | None, **kw: Any) -> None:
        super().__init__(**kw)
        self.loaded = loaded
        self.model = model
        self.add_marker("harness")

    def runtest(self) -> None:
        keep = self.config.getoption("harness_out")
        if keep is None:
            with tempfile.TemporaryDirectory(prefix="harness-") as tmp:
                self._run(Path(tmp) / "run", keep=False)
            return
        out = Path(keep) / self.loaded.scenario.name / (self.model or "configured")
        if (out / "run.json").exists():  # this very item's previous run: replace it
            shutil.rmtree(out)
        self._run(out, keep=True)

    def _run(self, out: Path, *, keep: bool) -> None:
        from harness.runner import SuiteOptions, parse_budgets, run_suite

        opt = self.config.getoption
        opts = SuiteOptions(
            budgets=parse_budgets(opt("harness_budgets"), "--harness-budgets"),
            paths=(str(self.path),), models=(self.model,) if self.model else (),
            trials=opt("harness_trials"), seed=opt("harness_seed"), faults=opt("harness_faults"),
            transport=opt("harness_transport"), out=out, tracing=keep, progress=False,
            report_files=keep,
        )
        result = run_suite(opts)
        self._judge(result, opts, out if keep else None)

    def _judge(self, result: SuiteResult, opts: SuiteOptions, out: Path | None) -> None:
        self.config.stash[_groups_key].append(result.report.summary)
        for g in result.verdicts:
            lo, hi = _wilson(g.goal_met, g.trials)
            self.user_properties += [
                ("goal_rate", f"{g.goal_rate:.4f}"), ("goal_rate_ci", f"[{lo:.4f}, {hi:.4f}]"),
                ("cost_p50_usd", f"{g.cost_p50 or 0:.6f}"),
                ("cost_p99_usd", f"{g.cost_p99 or 0:.6f}"),
                ("trials", str(g.trials)),
            ]
        if not result.passed:
            raise ScenarioFailed(report(self.loaded, result, opts, out))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> Any:
        if isinstance(excinfo.value, ScenarioFailed | HarnessError):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)  # a harness bug: show it all

    def reportinfo(self) -> tuple[Path, int | None, str]:
        s = self.loaded.scenario
        return self.path, None, f"scenario {s.name} on {self.model or 'configured models'}"


def _wilson(k: int, n: int) -> tuple[float, float]:
    from harness.metrics import wilson

    return wilson(k, n)


# --- the failure report --------------------------------------------------------------


def report(loaded: LoadedScenario, result: SuiteResult, opts: SuiteOptions,
           out: Path | None) -> str:
    """What a failed item prints: the numbers, the verdict, and a few failing trials."""
    s = loaded.scenario
    th = s.thresholds
    failed = [f for g in result.verdicts for f in g.failures]
    lines: list[str] = [f"{s.name}: thresholds failed: {'; '.join(failed)}", ""]
    for g in result.verdicts:
        lo, hi = _wilson(g.goal_met, g.trials)
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(g.outcomes.items(),
                                                             key=lambda kv: -kv[1]))
        lines += [
            f"scenario {g.scenario} on {g.model} (faults: {g.fault_profile}"
            + (", no budgets" if g.budgets == "off" else "") + ", seed "
            f"{opts.seed}, {g.trials} trials, {opts.transport})",
            f"  goal rate   {g.goal_rate:.0%} ({g.goal_met}/{g.trials}), 95% CI "
            f"[{lo:.2f}, {hi:.2f}]"
            + (f"   threshold >= {th.min_goal_rate:.0%}" if th.min_goal_rate is not None else ""),
            f"  cost        P50 ${g.cost_p50 or 0:.5f}  P99 ${g.cost_p99 or 0:.5f}"
            + (f"   threshold P99 <= ${th.max_p99_cost_usd:.5f}"
               if th.max_p99_cost_usd is not None else ""),
            f"  escalated   {g.escalated}/{g.trials} trials, rate "
            f"{(g.escalation_rate or 0):.0%}"
            + (f"   threshold rate <= {th.max_escalation_rate:.0%}"
               if th.max_escalation_rate is not None else ""),
            f"  outcomes    {outcomes}",
            f"  verdict     {'FAIL: ' + '; '.join(g.failures) if g.failures else 'PASS'}",
        ]
        missed = [r for r in result.results if (r.scenario, r.model, r.fault_profile) ==
                  (g.scenario, g.model, g.fault_profile) and not r.goal_met
                  and g.budgets in (None, r.budgets)]
        if missed:
            lines.append(f"failing trials ({min(len(missed), FAILING_TRIALS_SHOWN)} of "
                         f"{len(missed)}):")
            lines += [ln for r in missed[:FAILING_TRIALS_SHOWN] for ln in _trial_lines(r)]
        lines.append("")
    if out is not None:
        lines.append(f"run folder: {out} (trials.jsonl, events.sqlite, spans)")
    again = ["harness", "run", str(loaded.path), "--seed", str(opts.seed)]
    again += [a for m in opts.models for a in ("--model", m)]
    again += ["--trials", str(opts.trials)] if opts.trials else []
    again += ["--faults", opts.faults] if opts.faults else []
    again += ["--transport", opts.transport] if opts.transport != "simulated" else []
    again += ["--budgets", ",".join(opts.budgets)] if opts.budgets != ("on",) else []
    lines.append("the same trials again: " + " ".join(again) + " --out DIR")
    return "\n".join(lines).rstrip()


def _trial_lines(r: TrialResult) -> list[str]:
    head = f"  trial {r.trial} (seed {r.seed}): {r.outcome}, ${r.cost_usd:.5f}, " \
           f"{r.llm_calls} model calls, {r.tool_calls} tool calls"
    out = [head]
    if r.error:
        err = " ".join(r.error.split())
        out.append(f"      error: {err[:160]}{'...' if len(err) > 160 else ''}")
    for c in r.checks:
        if not c.get("ok"):
            detail = f": {c['detail']}" if c.get("detail") else ""
            out.append(f"      x {c['check']}{detail}")
    if r.faults:
        kinds = sorted({str(f.get("kind", f.get("source"))) for f in r.faults})
        out.append(f"      faults injected: {len(r.faults)} ({', '.join(kinds)})")
    return out


# --- terminal summary ----------------------------------------------------------------


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int,
                            config: pytest.Config) -> None:
    summaries = config.stash.get(_groups_key, [])
    if not summaries:
        return
    from harness.report import render_verdicts

    terminalreporter.section("harness scenarios")
    for line in render_verdicts(summaries).splitlines():
        terminalreporter.write_line(line)
