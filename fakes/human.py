"""A fake human approver: approves, denies, edits or stays silent, with latency."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from harness.core import HumanRequest
from harness.driver import HumanDecision
from harness.protocols import Clock

__test__ = False


@dataclass
class ScriptedHuman:
    """Answers every request with ``decision`` (or ``fn(request)``) after ``latency_s``."""

    decision: Literal["approve", "deny", "edit", "timeout"] = "approve"
    edited_input: dict[str, Any] | None = None
    latency_s: float = 30.0
    fn: Callable[[HumanRequest], HumanDecision] | None = None
    requests: list[HumanRequest] = field(default_factory=list)

    async def decide(self, request: HumanRequest, clock: Clock) -> HumanDecision:
        self.requests.append(request)
        if self.decision == "timeout" and self.fn is None:
            await clock.sleep(request.timeout_s + 1)
            return HumanDecision(decision="timeout")
        await clock.sleep(self.latency_s)
        if self.fn is not None:
            return self.fn(request)
        return HumanDecision(decision=self.decision, edited_input=self.edited_input)

    @classmethod
    def from_spec(cls, spec: Any) -> ScriptedHuman:
        """The ``scripted`` approver policy: a scenario's ``human`` spec (``decision``,
        ``latency_s``, ``edited_input``) as a person. Registered by entry point."""
        return cls(spec.decision, edited_input=spec.edited_input, latency_s=spec.latency_s)
