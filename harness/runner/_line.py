"""A trial's line, built in one place for every backend.

The local runner, an agent that brings its own loop, and the Temporal backend each end a
trial with the same plain values: what the run ended with (``RunEnd``), the goal checks,
the faults that fired and, if the runtime broke, its error. ``trial_line`` turns them into
the ``TrialResult``; no backend computes a field of the line itself, so a field added to
the line reaches them all at once (a copy per backend once lost one on its way).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from harness.core import AgentContext, Outcome, RunUsage
from harness.runner._result import TrialResult

if TYPE_CHECKING:
    from harness.runner._trial import TrialSpec
    from harness.scenario import CheckResult


class RunEnd(BaseModel):
    """What a trial's run ended with: the context's verdict and counters.

    The Temporal workflow returns exactly these under ``context`` (``used`` as its JSON).
    Every field is required and no other is allowed, so a workflow result that leaves one
    out, or carries one this side does not know, is refused by name instead of writing a
    default into the line."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    outcome: Outcome | None
    answer: str
    reason: str
    exhausted_limit: str | None
    used: RunUsage
    elapsed_s: float
    escalations: int
    retries: int

    @classmethod
    def of(cls, ctx: AgentContext) -> RunEnd:
        return cls(outcome=ctx.outcome, answer=ctx.answer, reason=ctx.reason,
                   exhausted_limit=ctx.exhausted_limit, used=ctx.used,
                   elapsed_s=ctx.elapsed_s, escalations=ctx.escalations, retries=ctx.retries)


NOTHING_RAN = RunEnd.of(AgentContext())
"""The end of a run that never started (its workflow failed before it returned any)."""


def check_rows(checks: Iterable[CheckResult]) -> list[dict[str, Any]]:
    """The goal checks as the line holds them."""
    return [{"check": c.check, "ok": c.ok, "detail": c.detail} for c in checks]


def fault_rows(tool: Iterable[BaseModel], llm: Iterable[BaseModel]) -> list[dict[str, Any]]:
    """The injected faults that fired, tools' first, as the line holds them."""
    return [*({"source": "tool", **f.model_dump(mode="json")} for f in tool),
            *({"source": "llm", **f.model_dump(mode="json", exclude={"request_hash"})}
              for f in llm)]


def trial_line(spec: TrialSpec, end: RunEnd, *, checks: Sequence[Mapping[str, Any]],
               faults: list[dict[str, Any]], crash: str | None, log_id: str,
               transport: str) -> TrialResult:
    """The trial's line. ``crash`` is the runtime's own error (the trial is ``crashed``,
    whatever the run ended with); otherwise a run that did not finish ``done`` gives its
    reason as the error."""
    s = spec.scenario.scenario
    used = end.used
    return TrialResult(
        run_id=spec.run_id, scenario=s.name, suite=s.suite, model=spec.model_label,
        fault_profile=spec.profile, trial=spec.trial, seed=spec.seed,
        outcome="crashed" if crash is not None or end.outcome is None else end.outcome,
        goal_met=bool(checks) and all(c["ok"] for c in checks) and crash is None,
        cost_usd=round(used.cost_usd, 10), llm_calls=used.llm_calls,
        tool_calls=used.tool_calls, tokens_in=used.tokens_in, tokens_out=used.tokens_out,
        duration_s=round(end.elapsed_s, 6), escalations=end.escalations,
        retries=end.retries, faults=faults,
        error=crash if crash is not None else (
            end.reason if end.outcome not in (None, "done") else None),
        exhausted_limit=end.exhausted_limit, answer=end.answer,
        checks=[dict(c) for c in checks], log_id=log_id, transport=transport,
        budgets=spec.budgets,
    )
