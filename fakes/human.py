"""A fake human approver: approves, denies, edits or stays silent, with latency."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from harness.core import HumanRequest
from harness.driver import HumanDecision
from harness.protocols import Clock

__test__ = False


Choice = Literal["approve", "deny", "edit", "timeout"]


class _Options(BaseModel):
    """What the scripted policy takes under a scenario's ``human.options``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    by_rule: dict[str, Choice] = {}
    """A decision per escalation rule (``production_action``, ``repeated_failures``...),
    overriding ``decision`` for that rule: the on-call engineer who refuses an unplanned
    deploy but lets a struggling run carry on."""


@dataclass
class ScriptedHuman:
    """Answers every request with ``decision`` (or ``fn(request)``) after ``latency_s``;
    ``by_rule`` gives some rules a decision of their own."""

    decision: Choice = "approve"
    edited_input: dict[str, Any] | None = None
    latency_s: float = 30.0
    fn: Callable[[HumanRequest], HumanDecision] | None = None
    requests: list[HumanRequest] = field(default_factory=list)
    by_rule: dict[str, Choice] = field(default_factory=dict)

    async def decide(self, request: HumanRequest, clock: Clock) -> HumanDecision:
        self.requests.append(request)
        decision = self.by_rule.get(request.rule, self.decision)
        if decision == "timeout" and self.fn is None:
            await clock.sleep(request.timeout_s + 1)
            return HumanDecision(decision="timeout")
        await clock.sleep(self.latency_s)
        if self.fn is not None:
            return self.fn(request)
        return HumanDecision(decision=decision, edited_input=self.edited_input)

    @classmethod
    def from_spec(cls, spec: Any) -> ScriptedHuman:
        """The ``scripted`` approver policy: a scenario's ``human`` spec (``decision``,
        ``latency_s``, ``edited_input``, and ``options.by_rule``) as a person.
        Registered by entry point."""
        options = _Options.model_validate(spec.options)
        return cls(spec.decision, edited_input=spec.edited_input, latency_s=spec.latency_s,
                   by_rule=dict(options.by_rule))
