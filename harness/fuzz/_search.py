"""The search: Hypothesis draws fault schedules, each runs as one trial, invariants judge it.

Everything but the schedule is fixed for a fuzz run: the scenario, the model, and
the trial seed (derived from ``--seed`` and the scenario's name, as ``harness run``
derives its seeds), so a trial is a pure function of its schedule and a failing
schedule replays exactly. Hypothesis itself is seeded from ``--seed`` and keeps
no example database, so the same command searches the same examples in the same
order.

Before the search, the empty schedule runs once: a violation there is reported
as is (the bug needs no fault). Its trial also sets where faults are aimed: call
numbers and record indices up to what the fault-free trial makes, plus a margin.
During the search, the first violation found fixes the *kind* being shrunk;
examples that show only other kinds count as passing, so the shrinker cannot
wander from one bug to another. Hypothesis replays the minimal failing example
last; that schedule then goes through ``minimise`` (moves Hypothesis cannot make
in one step, see ``_shrink``), and the result is what the case file keeps.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.errors import HypothesisException

from harness.errors import ConfigError, UsageError
from harness.faults import FaultSchedule, ToolFaultPlan
from harness.fuzz._case import (
    CaseViolation,
    FuzzCase,
    file_sha256,
    harness_version,
    load_case,
    write_case,
)
from harness.fuzz._invariants import Observation, Violation, check_trial
from harness.fuzz._shrink import minimise
from harness.fuzz._strategies import MAX_LLM_CALL, MAX_RECORD, MAX_TOOL_CALL, fault_schedules
from harness.runner import TrialEnv, TrialProbe, TrialSpec, run_trial, trial_seed
from harness.scenario import LoadedScenario, load_scenario
from harness.store import MemoryRecorder

EXIT_OK, EXIT_FOUND = 0, 1
DEFAULT_EXAMPLES = 100
FUZZ_PROFILE = "fuzz"


@dataclass(frozen=True)
class FuzzTarget:
    """What a fuzz run holds fixed: the scenario, the model and the trial seed."""

    scenario: LoadedScenario
    model: str | None
    seed: int
    """The trial seed."""

    @classmethod
    def load(cls, path: str | Path, *, model: str | None = None, fuzz_seed: int = 0
             ) -> FuzzTarget:
        ls = load_scenario(path)
        if model is not None:
            from harness.llm import load_prices

            try:
                load_prices().price(model)
            except (UsageError, KeyError) as err:
                raise UsageError(f"--model {model}: {err}") from None
        return cls(ls, model, trial_seed(fuzz_seed, ls.scenario.name, 0))

    @property
    def name(self) -> str:
        return self.scenario.scenario.name

    def spec(self) -> TrialSpec:
        return TrialSpec(self.scenario, self.model, FUZZ_PROFILE, 0, self.seed)

    def empty_schedule(self) -> FaultSchedule:
        action = self.scenario.scenario.faults.injection_action
        plan = ToolFaultPlan() if action is None else ToolFaultPlan(injection_action=action)
        return FaultSchedule(profile=FUZZ_PROFILE, seed=self.seed, tools=plan)

    def tool_names(self) -> list[str]:
        return [t.name for t in self.scenario.tools]


def observe(target: FuzzTarget, schedule: FaultSchedule, *, usage_errors: bool = False
            ) -> Observation:
    """Run one trial in-process (in-memory log) with exactly ``schedule``; keep what it left.

    An exception out of ``run_trial`` is kept as the observation's ``error`` (a finding),
    except a ``UsageError`` when ``usage_errors`` is set: the scenario cannot run at all.
    """
    spec = target.spec()
    recorder = MemoryRecorder()
    probe = TrialProbe()
    result = None
    error: str | None = None
    try:
        result = asyncio.run(run_trial(spec, TrialEnv(recorder=recorder), schedule=schedule,
                                       probe=probe))
    except Exception as err:  # the trial machinery itself broke: that is a finding too
        if usage_errors and isinstance(err, UsageError):
            raise
        error = f"{type(err).__name__}: {err}"
    return Observation(goals=target.scenario.scenario.goals, records=recorder.read_run(spec.run_id),
                       log_id=spec.run_id, result=result, error=error, world=probe.world,
                       final_context=probe.context)


def check_schedule(target: FuzzTarget, schedule: FaultSchedule) -> list[Violation]:
    """The invariant violations of one trial run with ``schedule`` (empty: none)."""
    return check_trial(observe(target, schedule))


@dataclass
class FuzzReport:
    target: FuzzTarget
    fuzz_seed: int
    examples: int = 0
    """Schedules Hypothesis drew and ran before the first violation (all, if none)."""
    trials: int = 0
    """Every trial run: the fault-free one, the search, and both shrink passes."""
    schedule: FaultSchedule | None = None
    """The minimal failing schedule, if a violation was found."""
    violations: list[Violation] = field(default_factory=list)
    """What the minimal schedule shows, the shrunk kind first."""
    flaky: bool = False
    """Hypothesis could not reproduce the failure on its final replay (should not happen)."""

    @property
    def found(self) -> bool:
        return bool(self.violations)

    def case(self, scenario_arg: str | Path) -> FuzzCase:
        assert self.schedule is not None and self.violations
        v = self.violations[0]
        return FuzzCase(
            harness_version=harness_version(), scenario=str(scenario_arg),
            scenario_name=self.target.name,
            scenario_sha256=file_sha256(self.target.scenario.path), model=self.target.model,
            fuzz_seed=self.fuzz_seed, trial_seed=self.target.seed, schedule=self.schedule,
            violation=CaseViolation(kind=v.kind, message=v.message), examples=self.examples,
            trials=self.trials,
        )


class _Violated(Exception):
    """Raised inside the Hypothesis test to mark a failing example."""


def fuzz(target: FuzzTarget, *, examples: int = DEFAULT_EXAMPLES, seed: int = 0,
         on_example: Callable[[int], None] | None = None) -> FuzzReport:
    """Search up to ``examples`` schedules for a violation; shrink the first one found."""
    if examples < 1:
        raise UsageError(f"--examples must be at least 1, not {examples}")

    report = FuzzReport(target, seed)
    baseline = target.empty_schedule()
    report.trials = 1
    first = observe(target, baseline, usage_errors=True)
    found = check_trial(first)
    if found:
        report.schedule, report.violations = baseline, found
        return report
    bounds = _bounds(first)

    kind: list[str] = []
    last: list[tuple[FaultSchedule, list[Violation]]] = []
    action = target.scenario.scenario.faults.injection_action

    @hypothesis_seed(seed)
    @settings(database=None, max_examples=examples, deadline=None, derandomize=False,
              suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet,
              phases=(Phase.generate, Phase.shrink), report_multiple_bugs=False,
              print_blob=False)
    @given(fault_schedules(target.tool_names(), seed=target.seed, injection_action=action,
                           **bounds))
    def search(schedule: FaultSchedule) -> None:
        report.trials += 1
        if not kind:
            report.examples += 1
        if on_example is not None:
            on_example(report.trials)
        violations = check_schedule(target, schedule)
        if not violations:
            return
        if not kind:
            kind.append(violations[0].kind)
        shrunk = [v for v in violations if v.kind == kind[0]]
        if not shrunk:
            return
        last[:] = [(schedule, shrunk + [v for v in violations if v.kind != kind[0]])]
        raise _Violated(kind[0])

    try:
        search()
    except _Violated:
        pass
    except HypothesisException:  # e.g. Flaky: the final replay did not fail
        report.flaky = True
    if last:
        schedule, violations = last[0]
        schedule, violations, spent = minimise(
            lambda cand: check_schedule(target, cand), schedule, violations, kind[0])
        report.trials += spent
        report.schedule = schedule
        report.violations = ([v for v in violations if v.kind == kind[0]]
                             + [v for v in violations if v.kind != kind[0]])
    return report


def _bounds(baseline: Observation) -> dict[str, int]:
    """Where faults can bite: the calls and records of the fault-free trial, with a margin
    (faults add retries and re-asks), within the strategy's default caps."""
    r = baseline.result
    tool_calls = r.tool_calls if r is not None else MAX_TOOL_CALL
    llm_calls = r.llm_calls if r is not None else MAX_LLM_CALL
    return {"max_tool_call": min(MAX_TOOL_CALL, max(3, tool_calls + 2)),
            "max_llm_call": min(MAX_LLM_CALL, max(3, llm_calls + 2)),
            "max_record": min(MAX_RECORD, max(3, len(baseline.records)))}


# -- command lines ----------------------------------------------------------------------


def describe_schedule(schedule: FaultSchedule) -> list[str]:
    """One line per fault, in words."""
    lines: list[str] = []
    for f in schedule.tools.faults:
        where = f"{f.tool} call {f.at_call}" if f.tool else f"tool call {f.at_call}"
        extra = f" ({f.latency_s:g}s)" if f.kind in ("latency", "timeout") else ""
        lines.append(f"tool fault {f.kind}{extra} at {where}")
    for m in schedule.llm.faults:
        extra = f" (retry-after {m.retry_after_s:g}s)" if m.retry_after_s is not None else ""
        extra += f" (+{m.delay_s:g}s)" if m.kind == "slow" else ""
        lines.append(f"LLM fault {m.kind}{extra} at model call {m.at_call}")
    for k in schedule.crash_at:
        lines.append(f"crash and resume before log record {k}")
    return lines or ["no faults at all"]


def _print_violations(violations: list[Violation]) -> None:
    for v in violations:
        print(f"  {v.kind}: {v.message}")


def fuzz_main(scenario: str | Path, *, examples: int = DEFAULT_EXAMPLES, seed: int = 0,
              out: Path = Path("reports/fuzz"), model: str | None = None) -> int:
    """``harness fuzz``: 1 and a case file when a violation is found, else 0."""
    target = FuzzTarget.load(scenario, model=model, fuzz_seed=seed)
    progress = _Progress(target.name, examples) if sys.stderr.isatty() else None
    report = fuzz(target, examples=examples, seed=seed,
                  on_example=progress.tick if progress else None)
    if progress is not None:
        progress.done()
    label = model or "as configured"
    if not report.found:
        print(f"harness fuzz: {target.name}: no violation in {report.examples} examples "
              f"and the fault-free trial (seed {seed}, model {label})")
        return EXIT_OK
    assert report.schedule is not None
    case = report.case(scenario)
    path = write_case(case, out)
    v = report.violations[0]
    where = (f"after {report.examples} examples, shrunk in {report.trials} trials"
             if report.examples else "in the fault-free trial")
    print(f"harness fuzz: {target.name}: {v.kind} found {where} (seed {seed}, model {label})")
    _print_violations(report.violations)
    print("minimal schedule:")
    for line in describe_schedule(report.schedule):
        print(f"  {line}")
    if report.flaky:
        print("warning: Hypothesis could not replay the failure a final time; the case holds "
              "the last failing example")
    print(f"case: {path}")
    print(f"replay: harness replay {path}")
    return EXIT_FOUND


def replay_main(case: str | Path) -> int:
    """``harness replay``: run a case's trial again; 1 if a violation shows, 0 if none does."""
    c = load_case(case)
    path = Path(c.scenario)
    if not path.is_absolute() and not path.exists():
        beside = Path(case).parent / path
        path = beside if beside.exists() else path
    if not path.exists():
        raise ConfigError(f"the scenario {c.scenario!r} does not exist (run from the folder "
                          "the fuzzer ran in)", file=str(case), field="scenario")
    ls = load_scenario(path)
    if ls.scenario.name != c.scenario_name:
        raise ConfigError(f"{path} holds scenario {ls.scenario.name!r}, the case is for "
                          f"{c.scenario_name!r}", file=str(case), field="scenario_name")
    if c.scenario_sha256 is not None and file_sha256(path) != c.scenario_sha256:
        print(f"warning: {path} has changed since the case was written; the trial may differ",
              file=sys.stderr)
    target = FuzzTarget(ls, c.model, c.trial_seed)
    violations = check_schedule(target, c.schedule)
    print(f"harness replay: {c.scenario_name} (trial seed {c.trial_seed}, model "
          f"{c.model or 'as configured'})")
    for line in describe_schedule(c.schedule):
        print(f"  {line}")
    same = [v for v in violations if v.kind == c.violation.kind]
    if same:
        exact = any(v.message == c.violation.message for v in same)
        print(f"reproduced{' exactly' if exact else ''}:")
        _print_violations(violations)
        return EXIT_FOUND
    if violations:
        print(f"the recorded {c.violation.kind} no longer shows, but another violation does:")
        _print_violations(violations)
        return EXIT_FOUND
    print(f"no longer reproduces: the recorded {c.violation.kind} is gone and every invariant "
          "holds")
    print(f"  (was: {c.violation.message})")
    return EXIT_OK


class _Progress:
    """A one-line trial counter on a terminal's stderr."""

    def __init__(self, name: str, examples: int) -> None:
        self.name = name
        self.examples = examples

    def tick(self, n: int) -> None:
        print(f"\rfuzzing {self.name}: trial {n} ({self.examples} examples, then shrinking "
              "if a violation shows)", end="", file=sys.stderr, flush=True)

    def done(self) -> None:
        print("\r\033[K", end="", file=sys.stderr, flush=True)
