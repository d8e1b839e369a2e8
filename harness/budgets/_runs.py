"""A measured run as ``harness budgets`` reads it: ``run.json`` and the trials, and which
trials of each scenario a proposal is made from.

A run may hold several models and fault profiles per scenario. Limits are a property of
the scenario as it is configured, under normal conditions, so by default a proposal is
made from the rows of the scenario's configured model (``configured``) and the ``none``
fault profile; when a run has only one model or one profile that one is used, and
``all`` pools every row. A run made with ``--no-budgets`` writes ``"budgets": "off"`` on
its rows: those measure the natural distribution of use, where a budgeted run's is cut
off at its old limits, so where a scenario has both, the unbudgeted rows are used.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.budgets._propose import KINDS, Trial
from harness.errors import UsageError
from harness.report import load_trials

ALL = "all"
#: What a run's rows are chosen by when there is more than one of them, and the default.
DEFAULTS = {"model": "configured", "fault_profile": "none"}
OPTION = {"model": "--model", "fault_profile": "--faults"}


@dataclass(frozen=True)
class Run:
    folder: Path
    identity: dict[str, Any]
    rows: tuple[dict[str, Any], ...]
    """The lines of ``trials.jsonl`` as written (checked against the schema first), with
    the fields the report's reader does not keep, such as ``budgets``."""


@dataclass(frozen=True)
class Selection:
    scenario: str
    model: str
    fault_profile: str
    unbudgeted: bool
    """Whether the rows come from a run with every limit off (``budgets: off``)."""
    trials: tuple[Trial, ...]


def read_run(path: str | Path) -> Run:
    folder = Path(path)
    if not folder.is_dir():
        raise UsageError(f"{folder}: not a run folder (no such folder)")
    meta, tfile = folder / "run.json", folder / "trials.jsonl"
    for need in (meta, tfile):
        if not need.is_file():
            raise UsageError(f"{folder}: not a run folder (no {need.name})")
    try:
        identity = json.loads(meta.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise UsageError(f"{meta}: not a run.json ({err})") from None
    if not isinstance(identity, dict) or not isinstance(identity.get("scenarios"), dict):
        raise UsageError(f"{meta}: not a run.json written by harness run (no scenarios)")
    load_trials(tfile)  # the schema, checked line by line with the line named
    rows = tuple(json.loads(line) for line in tfile.read_text(encoding="utf-8").splitlines()
                 if line.strip())
    if not rows:
        raise UsageError(f"{tfile}: no trials yet")
    return Run(folder, identity, rows)


def _choose(rows: list[dict[str, Any]], column: str, wanted: str | None, scenario: str
            ) -> tuple[list[dict[str, Any]], str]:
    present = sorted({str(r.get(column)) for r in rows if r.get(column) is not None})
    if wanted == ALL or not present:
        return rows, (present[0] if len(present) == 1 else ALL if present else "n/a")
    pick = wanted or (DEFAULTS[column] if DEFAULTS[column] in present
                      else present[0] if len(present) == 1 else None)
    what = column.replace("_", " ")
    if pick is None:
        raise UsageError(f"scenario {scenario} ran with {what}s {', '.join(present)}: "
                         f"choose one with {OPTION[column]} (or {OPTION[column]} {ALL} to "
                         "pool them)")
    if pick not in present:
        raise UsageError(f"scenario {scenario} has no trials with {what} {pick} "
                         f"(it has {', '.join(present)})")
    return [r for r in rows if r.get(column) == pick], pick


def _trial(row: dict[str, Any]) -> Trial:
    return Trial(goal_met=bool(row["goal_met"]),
                 used={k.limit: None if row.get(k.field) is None else float(row[k.field])
                       for k in KINDS},
                 exhausted_limit=row.get("exhausted_limit"))


def select(run: Run, *, model: str | None, fault_profile: str | None) -> list[Selection]:
    """The trials each scenario's limits are proposed from, scenarios in name order."""
    out: list[Selection] = []
    for scenario in sorted({str(r["scenario"]) for r in run.rows}):
        rows = [r for r in run.rows if r["scenario"] == scenario]
        rows, m = _choose(rows, "model", model, scenario)
        rows, f = _choose(rows, "fault_profile", fault_profile, scenario)
        off = [r for r in rows if r.get("budgets") == "off"]
        out.append(Selection(scenario, m, f, bool(off),
                             tuple(_trial(r) for r in (off or rows))))
    return out


def scenario_file(run: Run, scenario: str) -> tuple[Path, str]:
    """The scenario's file as the run recorded it (a relative path is relative to the
    folder the run was started from), and its SHA-256 then."""
    entry = run.identity["scenarios"].get(scenario)
    if not isinstance(entry, dict) or "file" not in entry or "sha256" not in entry:
        raise UsageError(f"{run.folder / 'run.json'}: no file recorded for scenario {scenario}")
    return Path(entry["file"]), str(entry["sha256"])
