"""The report stage: from what a run stored to the report files, each written atomically.

It reads ``trials.jsonl`` (and, for the drill-down and for whether an attack went
through a person's approval, ``events.sqlite``), never live objects, so any stored run,
or any file in the same schema from another system, can be reported again. The
thresholds come from the scenarios when the caller has them (the runner does), else
from the scenario files ``run.json`` names, else from the run's previous
``summary.json``; a run with none is judged on crashes alone.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from harness._files import write_atomic
from harness.errors import HarnessError
from harness.metrics import DEFAULT_RESAMPLES
from harness.report._approval import add_attack_approval
from harness.report._junit import render_junit
from harness.report._load import load_trials, trials_path
from harness.report._markdown import render_markdown
from harness.report._metrics import annotate
from harness.report._summary import SCHEMA, build_summary, dumps, git_commit
from harness.report._verdicts import ScenarioInfo, Verdict, scenario_infos

NO_EVENTS = ("the run folder has no events.sqlite: the report shows what trials.jsonl "
             "holds, and the per-trial drill-down (state path, model and tool calls) is "
             "absent")


@dataclass
class Report:
    summary: dict[str, Any]
    verdicts: list[Verdict]
    trials: pd.DataFrame
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(v.passed for v in self.verdicts)


def _run_dir(src: Path) -> Path | None:
    """The run folder of ``src``: itself, or the folder of a trials file that holds a run
    (a ``run.json`` or an event log beside it); None for a bare trials file."""
    if src.is_dir():
        return src
    parent = src.parent
    if src.name == "trials.jsonl" and any(
            (parent / n).exists() for n in ("run.json", "events.sqlite", "transcripts.jsonl")):
        return parent
    return None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _recorded(run_dir: Path | None) -> tuple[dict[str, ScenarioInfo], str | None] | None:
    """The thresholds, scenario hashes and agent commit an earlier ``summary.json`` of
    this run recorded (None when there is none): what the run was judged on."""
    if run_dir is None:
        return None
    old = _read_json(run_dir / "summary.json")
    if old.get("schema") != SCHEMA:
        return None
    prov = old.get("provenance") or {}
    hashes = prov.get("scenario_hashes") or {}
    out: dict[str, ScenarioInfo] = {}
    for v in old.get("verdicts") or []:
        name = v.get("scenario")
        if v.get("budgets") == "off":  # judged on crashes alone: its thresholds are not there
            continue
        if isinstance(name, str) and isinstance(v.get("thresholds"), dict):
            out[name] = ScenarioInfo(name, {k: float(x) for k, x in v["thresholds"].items()},
                                     hashes.get(name))
    for name, h in hashes.items():
        out.setdefault(name, ScenarioInfo(name, {}, h))
    commit = prov.get("agent_git_commit")
    return out, commit if isinstance(commit, str) else None


def _scenario_files(run: Mapping[str, Any]) -> list[str]:
    """The scenario files ``run.json`` names (``scenarios: {name: {file, sha256}}``)."""
    scenarios = run.get("scenarios")
    if not isinstance(scenarios, dict):
        return []
    return sorted(str(v["file"]) for v in scenarios.values()
                  if isinstance(v, dict) and isinstance(v.get("file"), str))


def _scenarios_from_files(run: Mapping[str, Any]) -> dict[str, ScenarioInfo]:
    """Thresholds and hashes of the scenario files ``run.json`` names, if they load."""
    paths = _scenario_files(run)
    if paths:
        from harness.scenario import load_all

        try:
            return scenario_infos(load_all([str(p) for p in paths]))
        except (HarnessError, OSError):
            pass
    return {}


def _scenario_dirs(run: Mapping[str, Any]) -> list[Path]:
    return [Path(p) for p in _scenario_files(run)]


def build_report(src: str | Path, *, scenarios: Mapping[str, ScenarioInfo] | None = None,
                 seed: int = 0, resamples: int = DEFAULT_RESAMPLES) -> Report:
    """Everything the report files hold, computed and not yet written.

    ``scenarios`` given (the runner gives the ones it ran): judged on them, provenance
    taken now. Not given: a run reported again keeps what its ``summary.json`` recorded
    (thresholds, scenario hashes, agent commit), so re-rendering a stored run gives the
    same file; a run without one is judged on the scenario files ``run.json`` names,
    if they still load, else on crashes alone."""
    src = Path(src)
    tfile = trials_path(src)
    trials = load_trials(tfile)
    run_dir = _run_dir(src)
    run = _read_json(run_dir / "run.json") if run_dir else {}
    notes: list[str] = []
    recorded = _recorded(run_dir) if scenarios is None else None
    if recorded is not None:
        scenarios, commit = recorded
    else:
        if scenarios is None:
            scenarios = _scenarios_from_files(run)
            if not scenarios and _scenario_files(run):
                notes.append("the scenario files run.json names did not load from here, so "
                             "no thresholds were checked: only crashed trials fail a verdict")
        commit = git_commit(_scenario_dirs(run))
    events = run_dir / "events.sqlite" if run_dir else None
    if run_dir is not None and not (events and events.is_file()) and not (
            run_dir / "transcripts.jsonl").is_file():
        notes.append(NO_EVENTS)
    df = add_attack_approval(annotate(trials), events)
    summary, verdicts = build_summary(
        df, scenarios=scenarios, run=run, source=tfile.name, agent_commit=commit,
        seed=seed, resamples=resamples)
    return Report(summary, verdicts, trials, notes=notes)


def write_report(src: str | Path, out: str | Path | None = None, *,
                 scenarios: Mapping[str, ScenarioInfo] | None = None, seed: int = 0,
                 resamples: int = DEFAULT_RESAMPLES, visuals: bool = True) -> Report:
    """Write summary.json, report.md, junit.xml, report.html and the charts into ``out``
    (default: the run folder, or beside a bare trials file)."""
    src = Path(src)
    report = build_report(src, scenarios=scenarios, seed=seed, resamples=resamples)
    run_dir = _run_dir(src)
    out_dir = Path(out) if out is not None else (run_dir or src.parent)
    out_dir.mkdir(parents=True, exist_ok=True)
    s = report.summary
    report.files += [
        write_atomic(out_dir / "summary.json", dumps(s)),
        write_atomic(out_dir / "report.md", render_markdown(s, notes=report.notes)),
        write_atomic(out_dir / "junit.xml", render_junit(s)),
    ]
    if visuals:
        from harness.report._html import write_visuals

        report.files += write_visuals(out_dir, s, report.trials, run_dir)
    return report


def print_notes(report: Report) -> None:
    for note in report.notes:
        print(f"harness: note: {note}", file=sys.stderr)
