"""What ``--resume`` still has to run, and what the resumed run reports.

A trial is identified by (scenario, model, fault profile, trial number, budgets
variant): the key of its ``trials.jsonl`` line. A trial with a whole line is done and never runs again; a
trial without one (never started, cut off mid-way, or its line torn) runs again.
Lines of trials the plan no longer asks for stay in the file but are left out of
the verdict.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from harness.runner._result import TrialResult
from harness.runner._trial import TrialSpec

TrialKey = tuple[str, str, str, int, str]


def spec_key(spec: TrialSpec) -> TrialKey:
    """The key a spec's line will carry (``TrialResult.key``)."""
    return spec.key


def already_done(lines: Iterable[TrialResult]) -> dict[TrialKey, TrialResult]:
    """The trials already done, by key; a key written twice counts once (its last line)."""
    return {r.key: r for r in lines}


def remaining(specs: Sequence[TrialSpec], done: dict[TrialKey, TrialResult]) -> list[TrialSpec]:
    """The planned trials that have no line yet, in plan order."""
    return [s for s in specs if spec_key(s) not in done]


def merge(specs: Sequence[TrialSpec], done: dict[TrialKey, TrialResult],
          fresh: Iterable[TrialResult]) -> list[TrialResult]:
    """The run's results: earlier lines and new ones, only for planned trials, in key order."""
    wanted = {spec_key(s) for s in specs}
    results = [r for r in [*done.values(), *fresh] if r.key in wanted]
    results.sort(key=lambda r: r.key)
    return results
