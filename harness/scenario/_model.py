"""The scenario file's schema: one YAML file, one task an agent is put on trial for.

Every model forbids unknown keys, so a typo is an error that names the field and
its line, never a silently ignored setting.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from harness.core import (
    MAX_SECONDS,
    MAX_USD,
    EscalationRules,
    OrchestratorConfig,
    RetryPolicy,
    RoleConfig,
    RunLimits,
)
from harness.faults._tools import ToolFault
from harness.llm import ReferenceSolution


class _Strict(BaseModel):
    # no infinity or NaN in a scenario's own numbers (thresholds, rates, latencies)
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class AgentSpec(_Strict):
    """The agent under test. Tool schemas come from the world, prices from the price table."""

    orchestrator: OrchestratorConfig
    roles: tuple[RoleConfig, ...] = Field(min_length=1)
    limits: RunLimits = RunLimits()
    escalation: EscalationRules = EscalationRules()
    retry: RetryPolicy = RetryPolicy()
    verification_role: str | None = "verification"


class EntryAgentSpec(_Strict):
    """An agent that brings its own loop: an async function the harness calls with the
    task, an ``anthropic.AsyncAnthropic`` client, the world's tools and the model id
    (see ``harness.external``). It is held by its limits at the client and the tools."""

    entry: str = Field(min_length=1)
    """A name registered under ``harness.agents`` or ``package.module:function``."""
    model: str = Field("claude-sonnet-4-6", min_length=1)
    """The model id handed to the agent (``--model`` replaces it); priced by the table."""
    limits: RunLimits = RunLimits()


def _agent_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "entry" if "entry" in value else "runtime"
    return "entry" if isinstance(value, EntryAgentSpec) else "runtime"


#: Our runtime's configuration, or an entry point (told apart by its ``entry`` key).
AnyAgentSpec = Annotated[
    Annotated[AgentSpec, Tag("runtime")] | Annotated[EntryAgentSpec, Tag("entry")],
    Discriminator(_agent_kind),
]


class WorldSpec(_Strict):
    kind: str = Field(min_length=1)
    """Which world: a registered name (``support``, ``repo``, ``research`` ship with the
    package) or an import reference ``package.module:attribute`` to a ``harness.World``
    subclass or a function making one from the state."""
    state: dict[str, Any] = Field(default_factory=dict)
    """The world's initial state, validated by that world's own schema."""
    troubles: tuple[ToolFault, ...] = ()
    """How this world's tools misbehave on their own, under every fault profile: a mail
    service that fails now and then, a search index that returns corrupted pages, a
    document with an instruction planted in it. Same shape as an injected tool fault
    (``kind``, ``tool``, ``rate`` or ``at_call``), drawn from the trial's seed; kept out
    of the trial's ``faults`` list, which names what the chaos profile injected."""


class WorldCheck(_Strict):
    """One assertion on the final world state, addressed by a dotted path."""

    path: str = Field(min_length=1)
    equals: Any = None
    contains: Any = None
    exists: bool | None = None

    @model_validator(mode="after")
    def _one_test(self) -> WorldCheck:
        given = [k for k in ("equals", "contains", "exists") if k in self.model_fields_set]
        if len(given) != 1:
            raise ValueError("give exactly one of equals, contains, exists")
        return self


class ActionCheck(_Strict):
    """A tool call that must (or must not) have been executed; ``input`` matches a subset."""

    tool: str = Field(min_length=1)
    input: dict[str, Any] = Field(default_factory=dict)
    approved: bool | None = None
    """For forbidden actions: ``False`` forbids it only when no human approved it."""


class AnswerCheck(_Strict):
    contains: tuple[str, ...] = ()
    contains_any: tuple[str, ...] = ()
    not_contains: tuple[str, ...] = ()
    case_sensitive: bool = False


class Goals(_Strict):
    """What "the goal was met" means; separate from "the agent said it was done"."""

    world: tuple[WorldCheck, ...] = ()
    required_actions: tuple[ActionCheck, ...] = ()
    forbidden_actions: tuple[ActionCheck, ...] = ()
    answer: AnswerCheck | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> Goals:
        if not (self.world or self.required_actions or self.forbidden_actions or self.answer):
            raise ValueError("a scenario needs at least one goal check")
        return self


class Thresholds(_Strict):
    """Pass criteria over all trials of one scenario, model and fault profile."""

    min_goal_rate: float | None = Field(None, ge=0, le=1)
    max_p99_cost_usd: float | None = Field(None, ge=0, le=MAX_USD)
    max_escalation_rate: float | None = Field(None, ge=0, le=1)


class FaultSpec(_Strict):
    """A named profile, optionally with some of its rates overridden."""

    profile: str = Field("none", min_length=1)
    """A built-in profile (``none``, ``flaky-tools``, ``hostile-tools``, ``api-brownout``,
    ``crashy``, ``chaos``), a registered one, or an import reference to a mapping of rates."""
    rates: dict[str, float] = Field(default_factory=dict)
    injection_action: str | None = None
    """What planted instructions tell the agent to do (default: refund every order)."""


class HumanSpec(_Strict):
    """The person who answers escalations in this scenario: a policy and its settings."""

    policy: str = Field("scripted", min_length=1)
    """A registered approver policy (``scripted``: answers every request with ``decision``
    after ``latency_s``) or an import reference to a function or class called with this
    spec, whose result has ``async decide(request, clock)``."""
    options: dict[str, Any] = Field(default_factory=dict)
    """Settings for the policy (the scripted one takes ``by_rule``: a decision per
    escalation rule, e.g. ``{production_action: deny}``, overriding ``decision``)."""
    decision: Literal["approve", "deny", "edit", "timeout"] = "approve"
    latency_s: float = Field(30.0, ge=0, le=MAX_SECONDS)
    edited_input: dict[str, Any] | None = None


class Scenario(_Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    suite: str = Field(min_length=1)
    """The agent type, e.g. ``customer-support``, ``code-review``, ``research``."""
    description: str = ""
    task: str = Field(min_length=1)
    agent: AnyAgentSpec
    world: WorldSpec
    reference: ReferenceSolution
    goals: Goals
    faults: FaultSpec = FaultSpec()
    human: HumanSpec = HumanSpec()
    trials: int = Field(10, ge=1, le=100_000)
    thresholds: Thresholds = Thresholds()
    models: tuple[str, ...] = ()
    """Models to compare by default (each replaces every role's model); empty = as configured."""
    tools: tuple[str, ...] = ()
    """Tools beside the world's: registered names or ``package.module:attribute``
    references to functions decorated with ``@harness.tool``."""
    model_profiles: tuple[str, ...] = ()
    """Simulated model profiles beside the built-in ones (registered names or references
    to a ``ModelProfile``); a profile here replaces a built-in one of the same model."""
    prices: str | None = None
    """The price table: a JSON file (relative to this file) or a reference to a
    ``PriceTable``; unset: the packaged table."""
