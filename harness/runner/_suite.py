"""The matrix scenario x model x fault profile x trial, run into one run folder.

    reports/<run>/run.json        what was asked (checked again on --resume)
    reports/<run>/trials.jsonl    one line per finished trial, appended whole
    reports/<run>/events.sqlite   every trial's event log (one SQLite file, WAL)
    reports/<run>/spans*.jsonl    OpenTelemetry spans, OTLP JSON, one file per process
    reports/<run>/summary.json, report.md, report.html, junit.xml, *.png
                                  the report stage's files (``harness.report``), written
                                  from trials.jsonl when the run ends

Trials share one event loop with bounded concurrency; ``workers > 1`` splits the
matrix over processes (see ``_workers``), the parent alone writing ``trials.jsonl``:
lines are appended as trials finish, and once every trial has its line the file is
rewritten in the plan's order, so a finished run's file is the same bytes whatever
the workers, concurrency or interruptions. ``--resume`` skips trials already in
``trials.jsonl``; a trial that was cut off mid-way runs again from its start (on a
deterministic transport, checked against and continuing its first log; live, under
a fresh log key), so no trial is lost and none is counted twice.
"""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from harness.errors import ConfigError, UsageError
from harness.llm import PROFILES, ModelProfile, profile_for
from harness.runner._budgets import ON, Budgets, check_budgets
from harness.runner._folder import (
    RunLock,
    check_name,
    check_out,
    fresh_default,
    holds_run,
    identity_changes,
    latest,
    read_identity,
    run_identity,
    write_identity,
)
from harness.runner._jsonl import DEFAULT_FSYNC_INTERVAL_S, TrialsFile
from harness.runner._preflight import preflight
from harness.runner._progress import Progress
from harness.runner._rerun import DETERMINISTIC_TRANSPORTS, CheckedRerun
from harness.runner._result import TrialResult
from harness.runner._resume import already_done, merge, remaining
from harness.runner._signals import sigterm_as_interrupt
from harness.runner._trial import TrialEnv, TrialSpec, make_spec, run_trial
from harness.runner._workers import default_workers, run_in_workers
from harness.scenario import EntryAgentSpec, LoadedScenario, load_all
from harness.scenario._yaml import dotted, line_of, read_yaml
from harness.store import SQLiteRecorder
from harness.telemetry import InlineBatchSpanProcessor, LeanTracerProvider, OTLPJsonFileExporter

if TYPE_CHECKING:
    from harness.report import Report, Verdict
    from harness.temporal import TemporalOptions


@dataclass(frozen=True)
class SuiteOptions:
    paths: tuple[str, ...]
    models: tuple[str, ...] = ()
    trials: int | None = None
    seed: int = 0
    faults: str | None = None
    concurrency: int = 32
    transport: str = "simulated"
    out: Path | None = None
    """The run folder; ``None``: a fresh folder under ``reports/<name>/`` named for the time
    (with ``--resume``: the one its ``latest`` link names)."""
    name: str = "run"
    reports: Path = Path("reports")
    resume: bool = False
    workers: int | None = 1
    """Processes to spread trials over; ``None``: one per usable core for simulated and
    replay runs (capped by the trials to run), one for live runs (``default_workers``)."""
    record: bool = False
    cassettes: Path | None = None
    """Where cassettes are replayed from or recorded to (``None``: ``cassettes/`` beside
    each scenario file)."""
    tracing: bool = True
    progress: bool | None = None
    profiles: tuple[ModelProfile, ...] = ()
    """Simulated model profiles to use instead of the built-in ones of the same models."""
    fsync_interval_s: float = DEFAULT_FSYNC_INTERVAL_S
    """How long a ``trials.jsonl`` line may wait for its fsync (0: after every line; see
    ``TrialsFile``). A killed process loses no line either way; only power loss can."""
    report_files: bool = True
    """Write the report files into the run folder (off: judge only, e.g. a throwaway folder)."""
    budgets: tuple[Budgets, ...] = (ON,)
    """The budgets variants to run each trial under: ``on`` (the agent's limits hold),
    ``off`` (every limit removed), or both, paired on the same seeds."""
    temporal: TemporalOptions | None = None
    """Run the trials as workflows on this Temporal server (``None``: in local processes)."""

    def identity(self) -> dict[str, Any]:
        """The options that must match for ``--resume`` to continue this run rather than mix
        two (the scenarios are matched by content, see ``run_identity``)."""
        ident: dict[str, Any] = {
            "models": list(self.models), "trials": self.trials,
            "seed": self.seed, "faults": self.faults, "transport": self.transport}
        if self.profiles:
            ident["profiles"] = [p.model_dump(mode="json") for p in self.profiles]
        if tuple(self.budgets) != (ON,):  # absent: budgets on, as before the axis existed
            ident["budgets"] = list(self.budgets)
        return ident

    def profile_table(self) -> dict[str, ModelProfile] | None:
        """The simulated profiles by model id (``None``: the built-in ones)."""
        if not self.profiles:
            return None
        return {**PROFILES, **{p.model: p for p in self.profiles}}


@dataclass
class SuiteResult:
    results: list[TrialResult]
    report: Report
    """What the report stage made of the run folder: summary, verdicts, files written."""
    out: Path

    @property
    def verdicts(self) -> list[Verdict]:
        return self.report.verdicts

    @property
    def passed(self) -> bool:
        return self.report.passed


def plan(loaded: Sequence[LoadedScenario], opts: SuiteOptions) -> list[TrialSpec]:
    """The trials to run, in the order ``trials.jsonl`` lists them: scenario files as
    loaded, then model, then budgets variant, then trial."""
    variants = check_budgets(opts.budgets)
    specs: list[TrialSpec] = []
    for ls in loaded:
        s = ls.scenario
        models: Sequence[str | None] = opts.models or s.models or (None,)
        n = opts.trials or s.trials
        for model in models:
            for budgets in variants:
                for t in range(n):
                    specs.append(make_spec(ls, model, opts.faults, t, opts.seed, budgets))
    return specs


def _tracer_provider(path: Path) -> LeanTracerProvider:
    """The run's spans: to the run folder's file, and to a collector if one is configured.

    A lean implementation of the OpenTelemetry API records them (the SDK's provider cost
    a sixth of a simulated trial; see ``LeanTracerProvider``); its spans are the SDK's
    ``ReadableSpan``s, so the SDK's processors and exporters take them as they are."""
    provider = LeanTracerProvider(resource=Resource.create({"service.name": "harness"}))
    # the file needs no worker thread (see InlineBatchSpanProcessor); a collector does
    provider.add_span_processor(InlineBatchSpanProcessor(OTLPJsonFileExporter(path)))
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError as err:
            raise UsageError(
                "OTEL_EXPORTER_OTLP_ENDPOINT is set but the OTLP exporter is not installed: "
                "pip install 'harness[otlp]'") from err
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


async def _run_specs(specs: Sequence[TrialSpec], opts: SuiteOptions, out: Path, spans_name: str,
                     on_result: Callable[[TrialResult], None]) -> None:
    recorder = SQLiteRecorder(out / "events.sqlite")
    provider = _tracer_provider(out / spans_name) if opts.tracing else None
    existing = set(recorder.run_ids())
    env = TrialEnv(recorder=recorder, transport=opts.transport,
                   tracer=provider.get_tracer("harness") if provider else None,
                   cassette_dir=opts.cassettes, record=opts.record,
                   profiles=opts.profile_table())
    sem = asyncio.Semaphore(max(1, opts.concurrency))

    rerun_in_place = opts.transport in DETERMINISTIC_TRANSPORTS

    def log_key(spec: TrialSpec) -> str:
        key, n = spec.run_id, 1
        if rerun_in_place:  # a cut-off attempt's log is continued (see CheckedRerun)
            return key
        while key in existing:
            n += 1
            key = f"{spec.run_id}@{n}"
        existing.add(key)
        return key

    async def one(spec: TrialSpec) -> None:
        async with sem:
            key = log_key(spec)
            stored = recorder.read_run(key) if key in existing else []
            if not stored:
                result = await run_trial(spec, env, log_id=key)
            else:  # cut off by a killed run: run again, checked against what it logged
                rerun = CheckedRerun(recorder, key, stored)
                result = await run_trial(spec, replace(env, recorder=rerun), log_id=key)
                why = rerun.shortfall()
                if why is not None and result.outcome != "crashed":
                    result = result.model_copy(
                        update={"outcome": "crashed", "goal_met": False, "error": why})
        on_result(result)

    # A suite allocates much and keeps little: collecting the young generation less often,
    # and leaving what was alive before it (the imports) out of the full collections until
    # it ends, saves about a tenth of a simulated suite's time and changes nothing but
    # when cyclic garbage is freed.
    threshold = gc.get_threshold()
    gc.set_threshold(max(threshold[0], _GC_YOUNG), *threshold[1:])
    gc.freeze()
    try:
        await asyncio.gather(*(one(s) for s in specs))
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
        recorder.close()
        if provider is not None:
            provider.shutdown()


_GC_YOUNG = 20_000


def _check_simulated_models(loaded: Sequence[LoadedScenario], opts: SuiteOptions) -> None:
    """A priced model the simulator has no profile for fails before the run folder exists."""
    if opts.transport != "simulated":
        return
    table = opts.profile_table()
    if opts.models:  # every role runs on these instead of the scenarios' own models
        for m in opts.models:
            profile_for(m, table)
        return
    for ls in loaded:
        s = ls.scenario
        where: list[tuple[tuple[int | str, ...], str]] = (
            [(("models", i), m) for i, m in enumerate(s.models)] if s.models else
            [(("agent", "model"), s.agent.model)] if isinstance(s.agent, EntryAgentSpec) else [
                (("agent", "orchestrator", "model"), s.agent.orchestrator.model),
                *((("agent", "roles", i, "model"), r.model) for i, r in enumerate(s.agent.roles)),
            ])
        own = {**(table or PROFILES), **ls.parts.profiles} if ls.parts.profiles else table
        for loc, model in where:
            try:
                profile_for(model, own)
            except UsageError as err:
                raise ConfigError(str(err), file=str(ls.path), field=dotted(loc),
                                  line=line_of(read_yaml(ls.path)[1], loc)) from None


def run_suite(opts: SuiteOptions) -> SuiteResult:
    loaded = load_all(opts.paths)
    _check_simulated_models(loaded, opts)
    specs = plan(loaded, opts)
    preflight(specs, opts)
    identity = run_identity(opts.identity(), loaded)
    try:  # everything that can refuse the run was checked before the folder is made
        out = _run_folder(opts)
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"cannot make the run folder: {err.strerror} ({err.filename})"
                         ) from None
    lock = RunLock(out)
    lock.acquire()
    try:
        return _run_locked(opts, loaded, specs, out, identity)
    finally:
        lock.release()


def _run_folder(opts: SuiteOptions) -> Path:
    if opts.out is not None:
        check_out(opts.out)
        return opts.out
    base = opts.reports / check_name(opts.name)
    return latest(base) if opts.resume else fresh_default(base)


def _run_locked(opts: SuiteOptions, loaded: Sequence[LoadedScenario], specs: list[TrialSpec],
                out: Path, identity: dict[str, Any]) -> SuiteResult:
    trials_file = TrialsFile(out / "trials.jsonl", fsync_interval_s=opts.fsync_interval_s)
    if opts.resume:
        stored = read_identity(out)
        changes = identity_changes(stored, identity) if stored is not None else []
        if changes:
            raise UsageError(f"--resume: {out} was run with other inputs: "
                             + "; ".join(changes) + "; start a new run instead")
        trials_file.repair()
        done = already_done(trials_file.read())
    else:
        if holds_run(out):
            raise UsageError(f"{out} already holds a run: pass --resume to continue it, "
                             "or choose another --out")
        done = {}
    write_identity(out, identity)
    todo = remaining(specs, done)
    progress = Progress(len(specs), enabled=opts.progress)
    for r in done.values():
        progress.advance(r.goal_met)
    fresh: list[TrialResult] = []

    def on_result(r: TrialResult) -> None:
        trials_file.append(r)
        fresh.append(r)
        progress.advance(r.goal_met)

    workers = opts.workers or default_workers(opts.transport, len(todo))
    try:
        with sigterm_as_interrupt():
            if opts.temporal is not None:
                from harness.temporal._run import run_on_temporal

                run_on_temporal(todo, opts, opts.temporal, out, on_result)
            elif workers > 1 and len(todo) > 1:
                run_in_workers(todo, opts, workers, out, on_result)
            else:
                asyncio.run(_run_specs(todo, opts, out, "spans.jsonl", on_result))
    finally:
        trials_file.close()
        progress.close()
    _put_in_plan_order(trials_file, specs, [*done.values(), *fresh])
    results = merge(specs, done, fresh)
    # the verdict comes from what the run stored, as `harness report` would make it
    from harness.report import build_report, scenario_infos, write_report

    judge = write_report if opts.report_files else build_report
    return SuiteResult(results, judge(out, scenarios=scenario_infos(loaded)), out)


def _put_in_plan_order(trials_file: TrialsFile, specs: Sequence[TrialSpec],
                       results: Sequence[TrialResult]) -> None:
    """Once every planned trial has its line, rewrite the file in the plan's order.

    While the run goes, lines are appended as trials finish (crash-safe: whole lines,
    resumable), in an order that depends on workers, concurrency and timing; the run's
    end makes the file a function of the plan alone, so the same run gives the same
    bytes however it was spread or interrupted."""
    by_key = {r.key: r for r in results}
    ordered = [by_key.get(s.key) for s in specs]
    if all(r is not None for r in ordered):
        trials_file.rewrite([r for r in ordered if r is not None])

