"""The run's whole state between two events: plain, frozen, JSON-round-trippable data."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.core._budget import ZERO, RunUsage
from harness.core._config import AgentConfig, RunLimits
from harness.core._effects import Effect, Outcome, RunTool
from harness.core._llm_types import Message
from harness.core._states import State


class _Data(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PlanStep(_Data):
    id: str = Field(min_length=1, max_length=64)
    role: str
    instruction: str
    depends_on: tuple[str, ...] = ()


class StepResult(_Data):
    """All the orchestrator ever sees of a sub-agent: its failure cannot leak further."""

    step_id: str
    role: str
    ok: bool
    output: str = ""
    error: str = ""


class SubAgent(_Data):
    step_id: str
    role: str
    instruction: str
    depends_on: tuple[str, ...] = ()
    purpose: Literal["act", "verify"] = "act"
    status: Literal["waiting", "running", "done", "failed", "skipped"] = "waiting"
    messages: tuple[Message, ...] = ()
    message_tokens: int = 0
    """Running token count of ``messages``, so a request is counted without re-reading history."""
    turns: int = 0
    used: RunUsage = ZERO
    reserved: RunUsage = ZERO
    limits: RunLimits | None = None
    open_calls: tuple[str, ...] = ()
    """``tool_use`` ids of the current turn, in the model's order."""
    results: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """``tool_result`` blocks received so far for ``open_calls``."""
    output: str = ""
    error: str = ""


class PendingApproval(_Data):
    effect_id: str
    rule: str
    agent: str
    blocking: bool
    """A blocking escalation pauses every new effect until it is decided."""
    tool: RunTool | None = None
    """The proposed (or interrupted) tool call, for tool approvals."""
    answer: str = ""


class AgentContext(_Data):
    run_id: str = ""
    task: str = ""
    config: AgentConfig | None = None
    state: State = State.IDLE
    phase: State = State.IDLE
    """The working state underneath ``awaiting_human``: where the run resumes."""
    started_at: float = 0.0
    now: float = 0.0
    next_effect: int = 0
    used: RunUsage = ZERO
    reserved: RunUsage = ZERO
    retries: int = 0
    plan: tuple[PlanStep, ...] = ()
    plan_attempts: int = 0
    replans: int = 0
    plan_feedback: str = ""
    agents: dict[str, SubAgent] = Field(default_factory=dict)
    results: tuple[StepResult, ...] = ()
    history: tuple[str, ...] = ()
    pending: dict[str, Effect] = Field(default_factory=dict)
    """Effects handed to the world and not yet answered: what a resume performs again."""
    reservations: dict[str, RunUsage] = Field(default_factory=dict)
    approvals: dict[str, PendingApproval] = Field(default_factory=dict)
    deferred: tuple[Effect, ...] = ()
    """Effects held back while a blocking escalation waits for a person."""
    failures: int = 0
    escalations: int = 0
    budget_alerted: bool = False
    verifications: int = 0
    proposed_answer: str = ""
    confidence: float | None = None
    outcome: Outcome | None = None
    answer: str = ""
    reason: str = ""
    exhausted_limit: str | None = None
    transitions: int = 0

    @property
    def terminal(self) -> bool:
        return self.state in (State.DONE, State.FAILED)

    @property
    def elapsed_s(self) -> float:
        return self.now - self.started_at
