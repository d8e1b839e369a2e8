"""Judging each scenario x model x fault profile against its scenario's thresholds.

The thresholds are rates and a cost: the goal-completion rate, the P99 cost of a trial,
and the escalation *rate* (the share of trials in which a person was asked), each
compared with the same number the report shows. A crashed trial fails its group
whatever the thresholds: it is a bug in the runtime or the agent, never a result.

Thresholds are set for the agent as configured, limits included. Trials run without
budgets (``--no-budgets``) measure what the limits hold back, so their groups get a
verdict of their own, judged on crashes alone: their cost is the measurement, not a
requirement the agent missed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

THRESHOLD_NAMES = ("min_goal_rate", "max_p99_cost_usd", "max_escalation_rate")


@dataclass(frozen=True)
class ScenarioInfo:
    """What the report knows of a scenario beyond its trials: thresholds and file hash."""

    name: str
    thresholds: dict[str, float] = field(default_factory=dict)
    sha256: str | None = None


def scenario_infos(loaded: Iterable[Any]) -> dict[str, ScenarioInfo]:
    """From ``LoadedScenario``s: thresholds set in the file and the file's content hash."""
    out: dict[str, ScenarioInfo] = {}
    for ls in loaded:
        th = ls.scenario.thresholds
        given = {} if th is None else {k: float(v) for k, v in th.model_dump().items()
                                       if v is not None}
        out[ls.scenario.name] = ScenarioInfo(ls.scenario.name, given, file_hash(ls.path))
    return out


def file_hash(path: Path) -> str | None:
    try:
        return "sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


@dataclass(frozen=True)
class Verdict:
    """One scenario x model x fault profile judged on its thresholds."""

    scenario: str
    model: str
    fault_profile: str
    trials: int
    goal_met: int
    cost_p50: float | None
    cost_p99: float | None
    escalated: int | None
    """Trials in which a person was asked at least once (None: the source lacks it)."""
    outcomes: dict[str, int]
    thresholds: dict[str, float]
    failures: tuple[str, ...]
    budgets: str | None = None
    """``on``/``off`` when the run has trials without budgets; None when it has not."""

    @property
    def goal_rate(self) -> float:
        return self.goal_met / self.trials if self.trials else 0.0

    @property
    def escalation_rate(self) -> float | None:
        if self.escalated is None or not self.trials:
            return None
        return self.escalated / self.trials

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario, "model": self.model, "fault_profile": self.fault_profile,
            "passed": self.passed, "failures": list(self.failures),
            "observed": {"trials": self.trials, "goal_met": self.goal_met,
                         "goal_completion_rate": self.goal_rate,
                         "cost_p50": self.cost_p50, "cost_p99": self.cost_p99,
                         "escalation_rate": self.escalation_rate,
                         "crashed": self.outcomes.get("crashed", 0)},
            "thresholds": dict(self.thresholds),
            "budgets": self.budgets,
        }


def _pct(x: float) -> str:
    return f"{x:.0%}"


def _usd(x: float) -> str:
    return f"${x:.4f}"


#: threshold -> (observed value from a verdict, does it fail, the failure text)
_RULES: dict[str, tuple[Callable[[Verdict], float | None], Callable[[float, float], bool],
                        Callable[[float, float], str]]] = {
    "min_goal_rate": (lambda v: v.goal_rate, lambda obs, th: obs < th,
                      lambda obs, th: f"goal rate {_pct(obs)} < {_pct(th)}"),
    "max_p99_cost_usd": (lambda v: v.cost_p99, lambda obs, th: obs > th,
                         lambda obs, th: f"P99 cost {_usd(obs)} > {_usd(th)}"),
    "max_escalation_rate": (lambda v: v.escalation_rate, lambda obs, th: obs > th,
                            lambda obs, th: f"escalation rate {_pct(obs)} > {_pct(th)}"),
}


def judge(leaf_groups: Sequence[Mapping[str, Any]], scenarios: Mapping[str, ScenarioInfo]
          ) -> list[Verdict]:
    """A verdict for each group of one scenario, model and fault profile."""
    out: list[Verdict] = []
    for g in leaf_groups:
        by = g["by"]
        cost = g["cost_usd"] or {}
        esc = g["escalation_rate"]
        info = scenarios.get(by["scenario"])
        budgets = by.get("budgets")
        thresholds = dict(info.thresholds) if info and budgets != "off" else {}
        v = Verdict(
            scenario=by["scenario"], model=by["model"] or "", fault_profile=by["fault_profile"]
            or "", trials=g["trials"], goal_met=g["goal_met"], cost_p50=cost.get("p50"),
            cost_p99=cost.get("p99"),
            escalated=None if esc is None else round(esc * g["trials"]),
            outcomes=dict(g["outcomes"]), thresholds=thresholds, failures=(), budgets=budgets)
        failures: list[str] = []
        for name in THRESHOLD_NAMES:
            if name not in thresholds:
                continue
            observe, fails, text = _RULES[name]
            obs = observe(v)
            if obs is None:
                failures.append(f"{name} set but the trials do not record "
                                f"{'cost' if 'cost' in name else 'escalations'}")
            elif fails(obs, thresholds[name]):
                failures.append(text(obs, thresholds[name]))
        crashed = v.outcomes.get("crashed", 0)
        if crashed:
            failures.append(f"{crashed} trial(s) crashed the runtime")
        out.append(Verdict(**{**v.__dict__, "failures": tuple(failures)}))
    return out


def leaves(groups: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The groups of one scenario, one model, one fault profile and one budgets variant
    (leaving out a dimension the source does not record)."""
    profiled = any(g["by"]["fault_profile"] is not None for g in groups)
    varied = any(g["by"].get("budgets") is not None for g in groups)
    return [g for g in groups if g["by"]["scenario"] is not None
            and g["by"]["model"] is not None
            and (g["by"]["fault_profile"] is not None or not profiled)
            and (g["by"].get("budgets") is not None or not varied)]
