"""Effects: what the core asks the world to do. Pure descriptions; never performed here."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.core._llm_types import ModelRequest


class _Effect(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    effect_id: str
    agent: str
    """``orchestrator`` or the plan step id of the sub-agent that wants this."""
    issued_at: float = 0.0
    """When the core asked for it: a resumed run starts it at the same moment again."""


class CallModel(_Effect):
    kind: Literal["call_model"] = "call_model"
    purpose: Literal["plan", "act", "reflect", "verify"]
    role: str
    request: ModelRequest
    attempt: int = 1
    timeout_s: float | None = None
    """What is left of the wall-time budget: the call may not outlive it."""
    not_before: float | None = None
    """A retry's backoff: do not send before this time."""


class RunTool(_Effect):
    kind: Literal["run_tool"] = "run_tool"
    call_id: str
    """The model's ``tool_use`` id, echoed back in the ``tool_result``."""
    tool: str
    input: dict[str, Any]
    side_effecting: bool = False
    affects_production: bool = False
    idempotency_key: str | None = None
    timeout_s: float | None = None
    intent: str = ""
    """What the agent was trying to do (its step's instruction), for traces and humans."""


class HumanRequest(BaseModel):
    """What a person needs to decide in thirty seconds of reading."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    rule: str
    what_doing: str
    why: str
    decision_needed: str
    options: tuple[str, ...] = ("approve", "deny", "edit")
    proposed_action: dict[str, Any] | None = None
    default_on_timeout: Literal["approve", "deny"] = "deny"
    timeout_s: float = 300.0
    budget: dict[str, str] = Field(default_factory=dict)
    """Used/limit per budget dimension, e.g. ``{"llm_calls": "8/10"}``."""

    def render(self) -> str:
        lines = [
            f"[{self.rule}] {self.decision_needed}",
            f"Doing: {self.what_doing}",
            f"Why: {self.why}",
        ]
        if self.proposed_action is not None:
            lines.append(f"Proposed: {self.proposed_action}")
        if self.budget:
            lines.append("Budget: " + ", ".join(f"{k} {v}" for k, v in self.budget.items()))
        lines.append(
            f"Options: {', '.join(self.options)} (no answer in {self.timeout_s:g}s = {self.default_on_timeout})"
        )
        return "\n".join(lines)


class RequestHuman(_Effect):
    kind: Literal["request_human"] = "request_human"
    request: HumanRequest


Outcome = Literal["done", "failed", "budget_exhausted", "escalated"]


class Finish(_Effect):
    kind: Literal["finish"] = "finish"
    outcome: Outcome
    answer: str = ""
    reason: str = ""
    limit: str | None = None
    """With ``budget_exhausted``: the limit that ran out."""


Effect = Annotated[CallModel | RunTool | RequestHuman | Finish, Field(discriminator="kind")]
