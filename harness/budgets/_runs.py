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

import pandas as pd

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
    trials: pd.DataFrame
    budgets: dict[tuple[str, str, str, int], str | None]
    """Each row's ``budgets`` field by (scenario, model, fault profile, trial)."""


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
    trials = load_trials(tfile)
    if trials.empty:
        raise UsageError(f"{tfile}: no trials yet")
    budgets: dict[tuple[str, str, str, int], str | None] = {}
    for line in tfile.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)  # load_trials has checked every line
            if "budgets" in row:
                budgets[(row["scenario"], row["model"], row.get("fault_profile") or "",
                         row["trial"])] = row["budgets"]
    return Run(folder, identity, trials, budgets)


def _choose(rows: pd.DataFrame, column: str, wanted: str | None, scenario: str) -> pd.DataFrame:
    present = sorted(str(v) for v in rows[column].dropna().unique())
    if wanted == ALL or not present:
        return rows
    pick = wanted or (DEFAULTS[column] if DEFAULTS[column] in present
                      else present[0] if len(present) == 1 else None)
    if pick is None:
        raise UsageError(f"scenario {scenario} ran with {column.replace('_', ' ')}s "
                         f"{', '.join(present)}: choose one with {OPTION[column]} "
                         f"(or {OPTION[column]} {ALL} to pool them)")
    if pick not in present:
        raise UsageError(f"scenario {scenario} has no trials with {column.replace('_', ' ')} "
                         f"{pick} (it has {', '.join(present)})")
    return rows[rows[column] == pick]


def select(run: Run, *, model: str | None, fault_profile: str | None) -> list[Selection]:
    """The trials each scenario's limits are proposed from, scenarios in name order."""
    out: list[Selection] = []
    for scenario in sorted(run.trials["scenario"].unique()):
        rows = run.trials[run.trials["scenario"] == scenario]
        rows = _choose(rows, "model", model, scenario)
        rows = _choose(rows, "fault_profile", fault_profile, scenario)
        off = [run.budgets.get((str(sc), str(m), str(f or ""), int(t))) == "off"
               for sc, m, f, t in zip(rows["scenario"], rows["model"], rows["fault_profile"],
                                      rows["trial"], strict=True)]
        unbudgeted = any(off)
        if unbudgeted:
            rows = rows[off]
        trials = tuple(
            Trial(goal_met=bool(r["goal_met"]),
                  used={k.limit: (None if pd.isna(r[k.field]) else float(r[k.field]))
                        for k in KINDS},
                  exhausted_limit=r["exhausted_limit"] if isinstance(r["exhausted_limit"], str)
                  else None)
            for r in rows.to_dict("records"))

        def label(column: str, wanted: str | None, rows: pd.DataFrame = rows) -> str:
            present = sorted(str(v) for v in rows[column].dropna().unique())
            return ALL if wanted == ALL and len(present) != 1 else (
                present[0] if present else "n/a")

        out.append(Selection(str(scenario), label("model", model),
                             label("fault_profile", fault_profile), unbudgeted, trials))
    return out


def scenario_file(run: Run, scenario: str) -> tuple[Path, str]:
    """The scenario's file as the run recorded it (a relative path is relative to the
    folder the run was started from), and its SHA-256 then."""
    entry = run.identity["scenarios"].get(scenario)
    if not isinstance(entry, dict) or "file" not in entry or "sha256" not in entry:
        raise UsageError(f"{run.folder / 'run.json'}: no file recorded for scenario {scenario}")
    return Path(entry["file"]), str(entry["sha256"])
