"""What an agent is: its roles, tools, limits and escalation rules, as plain data.

The configuration travels inside the first event of a run, so the log alone is
enough to resume or replay it: no live object has to be rebuilt to match.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.core._llm_types import MAX_TOKENS, ModelPrice

#: Bounds on what a configuration may say: far past any real run (a billion calls, a
#: trillion tokens, a billion dollars, thirty years), and low enough that no sum, product
#: or conversion the budget makes can overflow. Larger would mean "no limit": leave it out.
MAX_CALLS = 10**9
MAX_USD = 1e9
MAX_SECONDS = 1e9
MAX_ATTEMPTS = 100


class _Data(BaseModel):
    # infinity and NaN are never a limit, delay or rate (``.inf`` is YAML for "no limit"
    # to nobody: a limit left out is no limit)
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class RunLimits(_Data):
    """Hard limits for a run or a sub-agent's slice of it. ``None`` means no limit.

    Checked before every effect (see ``harness.core._budget``): an effect that could
    overshoot a limit is never emitted, so a limit can be reached but not passed.
    """

    llm_calls: int | None = Field(None, ge=0, le=MAX_CALLS)
    """Model calls, every retry attempt included."""
    tool_calls: int | None = Field(None, ge=0, le=MAX_CALLS)
    tokens_in: int | None = Field(None, ge=0, le=MAX_TOKENS)
    """Input tokens, cache reads and writes included."""
    tokens_out: int | None = Field(None, ge=0, le=MAX_TOKENS)
    wall_time_s: float | None = Field(None, ge=0, le=MAX_SECONDS)
    cost_usd: float | None = Field(None, ge=0, le=MAX_USD)

    def scaled(self, share: float) -> RunLimits:
        """A slice of these limits (counts rounded down, never below one call)."""

        def cut(v: int | None) -> int | None:
            return None if v is None else max(1, int(v * share))

        return RunLimits(
            llm_calls=cut(self.llm_calls),
            tool_calls=cut(self.tool_calls),
            tokens_in=cut(self.tokens_in),
            tokens_out=cut(self.tokens_out),
            wall_time_s=self.wall_time_s,
            cost_usd=None if self.cost_usd is None else self.cost_usd * share,
        )


class ToolInfo(_Data):
    """What the core needs to know about a tool: its schema and how dangerous it is."""

    name: str
    description: str = ""
    input_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})
    side_effecting: bool = False
    """Changes the world: gets an idempotency key and an intent record before it runs."""
    affects_production: bool = False
    """Touches production: needs a human's approval under the default escalation rules."""
    accepts_idempotency_key: bool = True
    """A world that honours keys can be asked again after a crash; one that cannot is
    escalated to a human instead of retried blindly."""

    def api_schema(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "input_schema": self.input_schema}


class RoleConfig(_Data):
    """A sub-agent role: its own model, prompt, tools and slice of the budget."""

    name: str
    model: str
    system_prompt: str = ""
    tools: tuple[str, ...] = ()
    max_tokens: int = Field(1024, ge=1, le=MAX_TOKENS)
    max_turns: int = Field(12, ge=1, le=MAX_CALLS)
    limits: RunLimits | None = None
    """An absolute slice for each step this role runs; overrides ``budget_share``."""
    budget_share: float | None = Field(None, gt=0, le=1)
    """A fraction of the run's limits for each step this role runs."""
    description: str = ""


class RetryPolicy(_Data):
    """How the runtime retries failed model calls. The SDK never retries on its own."""

    max_attempts: int = Field(4, ge=1, le=MAX_ATTEMPTS)
    base_delay_s: float = Field(1.0, ge=0, le=MAX_SECONDS)
    max_delay_s: float = Field(30.0, ge=0, le=MAX_SECONDS)
    call_timeout_s: float = Field(600.0, gt=0, le=MAX_SECONDS)
    """No single model call may take longer than this (the SDK's own default), so one
    hung call cannot eat the whole wall-time budget; a timeout is retried like a 504."""
    retry_after_cap_s: float = Field(60.0, ge=0, le=MAX_SECONDS)
    """A server's ``retry-after`` is honoured up to this many seconds."""
    jitter: float = Field(0.25, ge=0, le=1)
    retry_on: tuple[str, ...] = (
        "rate_limited", "overloaded", "server_error", "gateway_timeout", "timeout", "connect_error",
    )


Decision = Literal["approve", "deny"]


class EscalationRules(_Data):
    """When the agent must stop and ask a person. Each rule can be switched off."""

    production_actions: bool = True
    """A tool marked ``affects_production`` needs approval before it runs."""
    require_approval: tuple[str, ...] = ()
    """Further tools that always need approval (e.g. ``refund``)."""
    min_confidence: float | None = Field(0.7, ge=0, le=1)
    """A final answer below this confidence goes to a human first."""
    max_failures: int | None = Field(3, ge=1, le=MAX_CALLS)
    """This many failures (tool errors, failed calls, failed steps) since the last
    human check-in pause the run for a decision."""
    budget_fraction: float | None = Field(0.8, gt=0, le=1)
    """Crossing this fraction of any limit pauses the run once for a decision."""
    timeout_s: float = Field(300.0, gt=0, le=MAX_SECONDS)
    on_timeout: dict[str, Decision] = Field(
        default_factory=lambda: {  # type: ignore[arg-type]
            "production_action": "deny",
            "low_confidence": "deny",
            "repeated_failures": "deny",
            "budget_threshold": "approve",
            "agent_request": "deny",
            "side_effect_unknown": "deny",
        }
    )
    """What a silent human means, per rule. Unlisted rules default to deny."""


class OrchestratorConfig(_Data):
    mode: Literal["plan", "direct"] = "plan"
    """``plan``: the orchestrator plans steps for roles and reflects on their results.
    ``direct``: one step, the task itself, on the first working role; its final text is
    the answer (checked by the verification role if there is one). A single-loop agent
    pays for no planning or reflection calls."""
    model: str
    system_prompt: str = "You are the orchestrator. Plan the task as steps, each routed to a role."
    max_tokens: int = Field(1024, ge=1, le=MAX_TOKENS)
    max_steps: int = Field(12, ge=1, le=MAX_CALLS)
    max_replans: int = Field(2, ge=0, le=MAX_CALLS)
    max_plan_attempts: int = Field(3, ge=1, le=MAX_ATTEMPTS)


class AgentConfig(_Data):
    """The whole agent. ``prices`` must cover every model the agent can call, so a cost
    can always be reserved before a call; an unknown model is refused up front."""

    name: str = "agent"
    orchestrator: OrchestratorConfig
    roles: tuple[RoleConfig, ...]
    tools: tuple[ToolInfo, ...] = ()
    limits: RunLimits = RunLimits()
    escalation: EscalationRules = EscalationRules()
    retry: RetryPolicy = RetryPolicy()
    prices: tuple[ModelPrice, ...] = ()
    verification_role: str | None = "verification"
    """Role that checks the answer before ``done``; ``None`` skips verification."""
    seed: int = 0
    """Seeds retry jitter; the runtime has no other randomness."""

    @model_validator(mode="after")
    def _check_references(self) -> AgentConfig:
        tools = {t.name for t in self.tools}
        roles = [r.name for r in self.roles]
        if len(set(roles)) != len(roles):
            raise ValueError(f"duplicate role names in {roles}")
        for r in self.roles:
            for t in r.tools:
                if t not in tools:
                    raise ValueError(f"role {r.name!r} uses unknown tool {t!r}")
        if self.verification_role is not None and self.verification_role not in roles:
            raise ValueError(f"verification_role {self.verification_role!r} is not a role")
        priced = {p.model for p in self.prices}
        models = {self.orchestrator.model, *(r.model for r in self.roles)}
        missing = sorted(models - priced)
        if self.prices and missing:
            raise ValueError(f"no price for model(s) {missing}")
        return self

    def role(self, name: str) -> RoleConfig | None:
        return _index(self).roles.get(name)

    def tool(self, name: str) -> ToolInfo | None:
        return _index(self).tools.get(name)

    def price(self, model: str) -> ModelPrice | None:
        return _index(self).prices.get(model)


class _Index(NamedTuple):
    config: AgentConfig
    roles: dict[str, RoleConfig]
    tools: dict[str, ToolInfo]
    prices: dict[str, ModelPrice]


_INDEX: dict[int, _Index] = {}


def _index(cfg: AgentConfig) -> _Index:
    """``cfg``'s roles, tools and prices by name (the first of a name, as a scan finds),
    built once per configuration: the core looks them up several times per event. The
    entry keeps ``cfg`` alive, so its id cannot be reused while it is cached."""
    hit = _INDEX.get(id(cfg))
    if hit is not None and hit.config is cfg:
        return hit
    roles: dict[str, RoleConfig] = {}
    for r in cfg.roles:
        roles.setdefault(r.name, r)
    tools: dict[str, ToolInfo] = {}
    for t in cfg.tools:
        tools.setdefault(t.name, t)
    prices: dict[str, ModelPrice] = {}
    for p in cfg.prices:
        prices.setdefault(p.model, p)
    if len(_INDEX) > 1024:
        _INDEX.clear()
    hit = _INDEX[id(cfg)] = _Index(cfg, roles, tools, prices)
    return hit
