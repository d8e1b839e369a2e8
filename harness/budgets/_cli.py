"""``harness budgets RUN``: per-scenario limits from a measured run, what they would have
cost in completion there, and (``--write``) the scenario files updated to hold them.

Writing is all or nothing: every scenario file is read, checked against the SHA-256 the
run recorded and edited in memory before the first one is replaced, so a file changed
since the run (whose measurements may no longer describe it) stops the command with
nothing written.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import math
import os
import stat
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import yaml
from pydantic import ValidationError
from rich import box
from rich.console import Console
from rich.table import Table

from harness._files import read_regular, write_atomic
from harness.budgets._propose import (
    LimitProposal,
    Proposal,
    TooFewTrials,
    passing,
    propose,
)
from harness.budgets._runs import Run, Selection, read_run, scenario_file, select
from harness.budgets._write import set_limits
from harness.core import EscalationRules, RunLimits
from harness.errors import ConfigError, UsageError
from harness.report._format import interval, pct
from harness.scenario._yaml import MAX_FILE_BYTES

EXIT_OK = 0


@dataclass(frozen=True)
class _Row:
    selection: Selection
    proposal: Proposal
    current: dict[str, Any] | None
    """The limits the scenario file holds now (``None``: the file cannot be read here)."""
    changed: bool = False
    """Whether the file differs from the one the run measured."""
    fraction: float | None = None
    """The scenario's ``budget_fraction`` (the ``budget_threshold`` rule), if it has one."""


def check_options(quantile: float, margin: float) -> None:
    if not (math.isfinite(quantile) and 0 < quantile < 1):
        raise UsageError(f"--quantile must be between 0 and 1 (exclusive), not {quantile}")
    if not (math.isfinite(margin) and margin >= 1):
        raise UsageError(f"--margin must be a finite number of at least 1, not {margin}")


def _current(run: Run, scenario: str) -> tuple[dict[str, Any] | None, bool, float | None]:
    """The limits the scenario's file holds now, whether it changed since the run, and
    the share of a limit at which its runtime asks a person (none for an own-loop agent,
    which has no such rule; the default when the file cannot be read)."""
    default = EscalationRules().budget_fraction
    entry = run.identity["scenarios"].get(scenario)
    if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
        return None, False, default
    try:
        raw = read_regular(entry["file"], limit=MAX_FILE_BYTES, what="a scenario file")
        agent = yaml.safe_load(raw.decode("utf-8"))["agent"]
        limits = agent.get("limits") or {}
        fraction = None if "entry" in agent else (agent.get("escalation") or {}).get(
            "budget_fraction", default)
    except (UsageError, ValueError, yaml.YAMLError, KeyError, TypeError, AttributeError):
        return None, False, default
    if not isinstance(limits, dict):
        return None, False, default
    numbers = {k: v for k, v in limits.items()  # anything else is the loader's to refuse
               if isinstance(v, int | float) and not isinstance(v, bool)}
    if not isinstance(fraction, int | float) or isinstance(fraction, bool):
        fraction = None
    return numbers, _sha(raw) != entry.get("sha256"), fraction


def _label(q: float) -> str:
    return f"P{q * 100:.10g}"


def _amount(p: LimitProposal, v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if p.kind.limit == "cost_usd":
        return f"${float(v):.5f}" if not isinstance(v, str) else f"${v}"
    if p.kind.limit == "wall_time_s":
        return f"{float(v):.1f} s" if not isinstance(v, str) else f"{v} s"
    if isinstance(v, str):
        return f"{int(v):,}"
    return f"{float(v):,.1f}".removesuffix(".0")


def _limits_table(rows: Sequence[_Row], quantile: float, margin: float, plain: bool) -> Table:
    t = Table(box=None if plain else box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
              title=None if plain else f"Proposed limits: {_label(quantile)} of the trials "
              f"that met their goal x {margin:g}")
    for name, number in (("scenario", False), ("limit", False), ("now", True),
                         (f"{_label(quantile)} (goal met)", True), ("proposed", True),
                         ("goal-met trials it cuts", True)):
        t.add_column(name, justify="right" if number else "left", no_wrap=number)
    for row in rows:
        for i, p in enumerate(row.proposal.limits):
            now = "-" if row.current is None else _amount(p, row.current.get(p.kind.limit))
            if row.current is not None and row.current.get(p.kind.limit) is None:
                now = "none"
            cut = "-" if p.limit is None else (
                f"{p.cut} of {p.measured} ({p.cut / p.measured:.1%})")
            t.add_row(row.selection.scenario if i == 0 else "", p.kind.limit, now,
                      _amount(p, p.quantile_value), _amount(p, p.text() or None), cut)
    return t


def _completion_table(rows: Sequence[_Row], plain: bool) -> Table:
    t = Table(box=None if plain else box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
              title=None if plain else "Completion in this run")
    for name, number in (("scenario", False), ("model", False), ("faults", False),
                         ("trials", True), ("goal met (95% CI)", True),
                         ("within all proposed limits (95% CI)", True)):
        t.add_column(name, justify="right" if number else "left", no_wrap=number)
    for row in rows:
        s, p = row.selection, row.proposal
        t.add_row(s.scenario, s.model, s.fault_profile, str(p.trials),
                  f"{pct(p.completion)} {interval(p.completion_ci)}",
                  f"{pct(p.projected)} {interval(p.projected_ci)}")
    return t


def _notes(rows: Sequence[_Row]) -> list[str]:
    out = []
    for row in rows:
        s, p = row.selection, row.proposal
        if row.changed:
            out.append(f"{s.scenario}: its scenario file changed since the run (the 'now' "
                       "column shows it as it is; --write would refuse it).")
        hits = 0 if row.fraction is None else passing(s.trials, p.values(), row.fraction)
        if row.fraction is not None and hits:
            out.append(f"{s.scenario}: {hits} of the {p.kept} goal-met trials within these "
                       f"limits would pass {row.fraction:.0%} of one, where the runtime "
                       "asks a person (budget_threshold): those wait on the person, whose "
                       "time counts against wall_time_s, so completion can fall below the "
                       f"projection; a --margin above {1 / row.fraction:.3g} keeps every "
                       "trial up to the quantile below it.")
        if s.unbudgeted:
            out.append(f"{s.scenario}: from {p.trials} trials run with every limit off "
                       "(--no-budgets): the whole distribution of use.")
        elif p.exhausted:
            out.append(f"{s.scenario}: from a budgeted run in which {p.exhausted} of "
                       f"{p.trials} trials ran out of a limit: use is censored at the old "
                       "limits, so these proposals can be low; a --no-budgets run measures "
                       "it whole.")
    return out


def print_budgets(rows: Sequence[_Row], quantile: float, margin: float,
                  file: IO[str] | None = None) -> None:
    stream = file or sys.stdout
    plain = not stream.isatty()
    buf = io.StringIO()
    console = (Console(file=buf, width=200, color_system=None, force_terminal=False,
                       highlight=False, soft_wrap=True) if plain
               else Console(file=stream, highlight=False))
    console.print(_limits_table(rows, quantile, margin, plain))
    console.print()
    console.print(_completion_table(rows, plain))
    console.print()
    console.print(f"Rows used: the model and fault profile shown (by default the configured "
                  f"model under none, or the run's only one; 'all' when pooled with --model "
                  f"all or --faults all). A trial is cut off when it used "
                  f"more than a limit. Limits: {_label(quantile)} x {margin:g}, counts "
                  "rounded up to whole numbers, dollars and seconds up to 3 significant "
                  "figures.", soft_wrap=plain)
    for note in _notes(rows):
        console.print(note, soft_wrap=plain)
    if plain:
        stream.write("\n".join(ln.rstrip() for ln in buf.getvalue().splitlines()) + "\n")


def _planned_writes(run_rows: Sequence[_Row], run: Run) -> list[tuple[Path, str]]:
    """Every file's new text, or the first reason not to write any."""
    changed: list[str] = []
    out: list[tuple[Path, str]] = []
    for row in run_rows:
        path, recorded = scenario_file(run, row.selection.scenario)
        if not path.is_file():
            raise UsageError(f"{path}: the scenario file of {row.selection.scenario} is not "
                             "there (run.json records it relative to the folder the run was "
                             "started from: run harness budgets from there); nothing written")
        raw = read_regular(path, limit=MAX_FILE_BYTES, what="a scenario file")
        if _sha(raw) != recorded:
            changed.append(str(path))
            continue
        values = row.proposal.texts()
        try:
            RunLimits(**row.proposal.values())
        except ValidationError as err:
            raise UsageError(f"{path}: the proposed limits are out of bounds "
                             f"({err.errors()[0]['msg']}); nothing written") from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError("not UTF-8 text", file=str(path)) from None
        out.append((path, set_limits(text, values, file=str(path))))  # nothing written yet
    if changed:
        raise UsageError(f"{', '.join(changed)}: changed since the run (its SHA-256 differs "
                         "from run.json's), so the run no longer measures it; nothing written")
    return out


def _sha(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def budgets_main(args: argparse.Namespace) -> int:
    check_options(args.quantile, args.margin)
    run = read_run(args.run)
    selections = select(run, model=args.model, fault_profile=args.faults)
    rows: list[_Row] = []
    short: list[str] = []
    for s in selections:
        try:
            proposal = propose(s.trials, args.quantile, args.margin)
        except TooFewTrials as err:
            short.append(f"{s.scenario} has {len(s.trials)} trials of which {err.have} met "
                         f"their goal, {err.need} needed")
            continue
        rows.append(_Row(s, proposal, *_current(run, s.scenario)))
    if short:
        raise UsageError(f"{run.folder}: too few trials to estimate the {args.quantile:g} "
                         f"quantile (ceil(1/(1-q)) trials that met their goal): "
                         f"{'; '.join(short)}; run more with --trials or lower --quantile")
    print_budgets(rows, args.quantile, args.margin)
    if args.write:
        writes = _planned_writes(rows, run)
        for path, text in writes:
            # the file a link points at is the one updated, with the permissions it had
            target = path.resolve()
            mode = stat.S_IMODE(target.stat().st_mode)
            write_atomic(target, text.encode("utf-8"))
            os.chmod(target, mode)
            print(f"wrote agent.limits in {path}")
    return EXIT_OK
