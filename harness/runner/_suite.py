"""The matrix scenario x model x fault profile x trial, run into one run folder.

    reports/<run>/run.json        what was asked (checked again on --resume)
    reports/<run>/trials.jsonl    one line per finished trial, appended whole
    reports/<run>/events.sqlite   every trial's event log (one SQLite file, WAL)
    reports/<run>/spans*.jsonl    OpenTelemetry spans, OTLP JSON, one file per process
    reports/<run>/summary.json, report.md, report.html, junit.xml, *.png
                                  the report stage's files (``harness.report``), written
                                  from trials.jsonl when the run ends

Trials share one event loop with bounded concurrency; ``workers > 1`` splits the
matrix over processes (CPU-bound simulated suites), the parent alone writing
``trials.jsonl``. ``--resume`` skips trials already in ``trials.jsonl``; a trial
that was cut off mid-way runs again from its start under a fresh log key, so no
trial is lost and none is counted twice.
"""

from __future__ import annotations

import asyncio
import gc
import json
import multiprocessing as mp
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from queue import Empty
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from harness._files import write_atomic
from harness.errors import ConfigError, UsageError
from harness.llm import PROFILES, ModelProfile, profile_for
from harness.runner._jsonl import DEFAULT_FSYNC_INTERVAL_S, TrialsFile
from harness.runner._progress import Progress
from harness.runner._result import TrialResult
from harness.runner._trial import TrialEnv, TrialSpec, make_spec, run_trial
from harness.scenario import LoadedScenario, load_all
from harness.scenario._yaml import dotted, line_of, read_yaml
from harness.store import SQLiteRecorder
from harness.telemetry import InlineBatchSpanProcessor, LeanTracerProvider, OTLPJsonFileExporter

if TYPE_CHECKING:
    from harness.report import Report, Verdict


@dataclass(frozen=True)
class SuiteOptions:
    paths: tuple[str, ...]
    models: tuple[str, ...] = ()
    trials: int | None = None
    seed: int = 0
    faults: str | None = None
    concurrency: int = 32
    transport: str = "simulated"
    out: Path = Path("reports/latest")
    resume: bool = False
    workers: int = 1
    record: bool = False
    tracing: bool = True
    progress: bool | None = None
    profiles: tuple[ModelProfile, ...] = ()
    """Simulated model profiles to use instead of the built-in ones of the same models."""
    fsync_interval_s: float = DEFAULT_FSYNC_INTERVAL_S
    """How long a ``trials.jsonl`` line may wait for its fsync (0: after every line; see
    ``TrialsFile``). A killed process loses no line either way; only power loss can."""
    report_files: bool = True
    """Write the report files into the run folder (off: judge only, e.g. a throwaway folder)."""

    def identity(self) -> dict[str, Any]:
        """What must match for ``--resume`` to continue this run rather than mix two."""
        ident: dict[str, Any] = {
            "paths": list(self.paths), "models": list(self.models), "trials": self.trials,
            "seed": self.seed, "faults": self.faults, "transport": self.transport}
        if self.profiles:
            ident["profiles"] = [p.model_dump(mode="json") for p in self.profiles]
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
    specs: list[TrialSpec] = []
    for ls in loaded:
        s = ls.scenario
        models: Sequence[str | None] = opts.models or s.models or (None,)
        n = opts.trials or s.trials
        for model in models:
            for t in range(n):
                specs.append(make_spec(ls, model, opts.faults, t, opts.seed))
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
                   cassette_dir=_cassette_dir(specs, opts), record=opts.record,
                   profiles=opts.profile_table())
    sem = asyncio.Semaphore(max(1, opts.concurrency))

    def log_key(spec: TrialSpec) -> str:
        key, n = spec.run_id, 1
        while key in existing:
            n += 1
            key = f"{spec.run_id}@{n}"
        existing.add(key)
        return key

    async def one(spec: TrialSpec) -> None:
        async with sem:
            result = await run_trial(spec, env, log_id=log_key(spec))
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


def _cassette_dir(specs: Sequence[TrialSpec], opts: SuiteOptions) -> Path | None:
    if opts.transport != "replay" and not opts.record:
        return None
    if not specs:
        return None
    return specs[0].scenario.path.parent / "cassettes"


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
            [(("models", i), m) for i, m in enumerate(s.models)] if s.models else [
                (("agent", "orchestrator", "model"), s.agent.orchestrator.model),
                *((("agent", "roles", i, "model"), r.model) for i, r in enumerate(s.agent.roles)),
            ])
        for loc, model in where:
            try:
                profile_for(model, table)
            except UsageError as err:
                raise ConfigError(str(err), file=str(ls.path), field=dotted(loc),
                                  line=line_of(read_yaml(ls.path)[1], loc)) from None


def run_suite(opts: SuiteOptions) -> SuiteResult:
    loaded = load_all(opts.paths)
    _check_simulated_models(loaded, opts)
    specs = plan(loaded, opts)
    out = opts.out
    out.mkdir(parents=True, exist_ok=True)
    trials_file = TrialsFile(out / "trials.jsonl", fsync_interval_s=opts.fsync_interval_s)
    run_json = out / "run.json"
    identity = opts.identity()
    if opts.resume:
        if run_json.exists() and json.loads(run_json.read_text()) != identity:
            raise UsageError(f"{out} holds a different run (see run.json); use another --out")
        trials_file.repair()
        done = {r.key: r for r in trials_file.read()}
    else:
        if (out / "trials.jsonl").exists() or (out / "events.sqlite").exists():
            raise UsageError(f"{out} already holds a run: pass --resume to continue it, "
                             "or choose another --out")
        done = {}
    write_atomic(run_json, json.dumps(identity, indent=2, sort_keys=True) + "\n")
    todo = [s for s in specs if (s.scenario.scenario.name, s.model_label, s.profile, s.trial)
            not in done]
    progress = Progress(len(specs), enabled=opts.progress)
    for r in done.values():
        progress.advance(r.goal_met)
    fresh: list[TrialResult] = []

    def on_result(r: TrialResult) -> None:
        trials_file.append(r)
        fresh.append(r)
        progress.advance(r.goal_met)

    try:
        if opts.workers > 1 and len(todo) > 1:
            _run_in_workers(todo, opts, out, on_result)
        else:
            asyncio.run(_run_specs(todo, opts, out, "spans.jsonl", on_result))
    finally:
        trials_file.close()
        progress.close()
    wanted = {(s.scenario.scenario.name, s.model_label, s.profile, s.trial) for s in specs}
    results = [r for r in [*done.values(), *fresh] if r.key in wanted]
    results.sort(key=lambda r: r.key)
    # the verdict comes from what the run stored, as `harness report` would make it
    from harness.report import build_report, scenario_infos, write_report

    judge = write_report if opts.report_files else build_report
    return SuiteResult(results, judge(out, scenarios=scenario_infos(loaded)), out)


# --- workers --------------------------------------------------------------------------


def _worker(index: int, keys: list[tuple[str, str | None, str, int]], opts: SuiteOptions,
            out: Path, queue: Any) -> None:
    loaded = {ls.scenario.name: ls for ls in load_all(opts.paths)}
    specs = [make_spec(loaded[name], model, profile, trial, opts.seed)
             for name, model, profile, trial in keys]
    asyncio.run(_run_specs(specs, opts, out, f"spans-w{index}.jsonl",
                           lambda r: queue.put(r.model_dump_json())))
    queue.put(None)


def _forkable() -> bool:
    """Whether workers may be forked (else they are spawned).

    A forked worker starts at once with everything this process imported (the SDK alone
    takes seconds to import, in every spawned worker). Fork is only safe in a process
    with no other thread, whose locks a child could inherit held; so a process with any
    other thread running, and any platform without fork, spawns.
    """
    return "fork" in mp.get_all_start_methods() and threading.active_count() == 1


def _run_in_workers(todo: list[TrialSpec], opts: SuiteOptions, out: Path,
                    on_result: Callable[[TrialResult], None]) -> None:
    # Create the shared event log (WAL mode, schema) before any worker opens it: workers
    # starting together would otherwise race to create it, and the loser's switch to WAL
    # can fail with "database is locked" without waiting (SQLite does not wait where
    # waiting could deadlock). Opening an existing log only reads.
    SQLiteRecorder(out / "events.sqlite").close()
    ctx = mp.get_context("fork") if _forkable() else mp.get_context("spawn")
    queue = ctx.Queue()
    n = min(opts.workers, len(todo))
    chunks: list[list[tuple[str, str | None, str, int]]] = [[] for _ in range(n)]
    for i, s in enumerate(todo):
        chunks[i % n].append((s.scenario.scenario.name, s.model, s.profile, s.trial))
    procs = [ctx.Process(target=_worker, args=(i, chunks[i], opts, out, queue), daemon=True)
             for i in range(n)]
    for p in procs:
        p.start()
    running = n
    try:
        while running:
            try:
                item = queue.get(timeout=0.5)
            except Empty:
                if not any(p.is_alive() for p in procs):
                    break  # a worker died before its end marker: nothing more will come
                continue
            if item is None:
                running -= 1
                continue
            on_result(TrialResult.model_validate_json(item))
    finally:
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
    bad = [p.exitcode for p in procs if p.exitcode not in (0, None)]
    if bad:
        raise RuntimeError(f"a worker process failed (exit codes {bad})")
