"""Builders shared by the runtime's tests: configs, a world of tools, scripted replies, a runner.

A plain module (imported as ``helpers``), so every test file builds agents the same way:

- ``make_config(...)``: an ``AgentConfig`` with four roles and the world's tools;
- ``World``: a side-effect ``Ledger`` and a ``ToolRegistry`` over it;
- ``Script``: a ``FunctionModel`` function that answers plans, step turns, reflections and
  verdicts from data and records every request it receives;
- ``run_agent(...)``: one run through the real ``Driver`` on a virtual clock, returning the
  result together with its decoded log.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel

from fakes.ledger import Ledger, ledger_tools
from fakes.scripted import Call, FunctionModel, step_id_of, turn_of
from harness.core import (
    AgentConfig,
    AgentContext,
    Effect,
    EscalationRules,
    Event,
    HumanDecided,
    ModelFailed,
    ModelReplied,
    ModelRequest,
    ModelResponse,
    OrchestratorConfig,
    RetryPolicy,
    RoleConfig,
    RunLimits,
    RunStarted,
    ToolReturned,
    Usage,
    count_request_tokens,
    count_tokens,
    step,
)
from harness.demo import DEMO_PRICES
from harness.driver import Driver, RunResult, VirtualClock
from harness.errors import ToolError
from harness.protocols import Clock
from harness.store import MemoryRecorder, Recorder, decode
from harness.telemetry import RunTracer
from harness.tools import ToolContext, ToolRegistry, tool

T = TypeVar("T")

HAIKU = "claude-haiku-4-5"
SONNET = "claude-sonnet-4-5"

PRICES = DEMO_PRICES  # the demo's price list: one per model the test agents use

#: Every escalation rule switched off: budget and hierarchy tests see no human at all.
QUIET = EscalationRules(production_actions=False, min_confidence=None, max_failures=None,
                        budget_fraction=None)


# --- the world: tools over a ledger ------------------------------------------------------


class Empty(BaseModel):
    pass


class Fragile(BaseModel):
    text: str


class World:
    """A ledger plus every tool the test roles use.

    ``lookup`` reads; ``record`` writes (side-effecting, takes idempotency keys);
    ``deploy`` writes to production; ``fragile`` writes but cannot take a key;
    ``broken`` always raises.
    """

    def __init__(self) -> None:
        self.ledger = Ledger()
        self.keys: list[str | None] = []
        ledger = self.ledger
        keys = self.keys

        @tool(name="fragile", description="Write a note; cannot take an idempotency key.",
              side_effecting=True, accepts_idempotency_key=False)
        def fragile(args: Fragile, ctx: ToolContext) -> dict[str, Any]:
            keys.append(ctx.idempotency_key)
            return ledger.execute("fragile", args.model_dump(), None)

        @tool(name="broken", description="Always fails.")
        def broken(args: Empty, ctx: ToolContext) -> dict[str, Any]:
            raise ToolError("broken", "the backend is down")

        self.registry = ToolRegistry([*ledger_tools(ledger), fragile, broken])

    def executions(self, action: str | None = None) -> list[tuple[str, str]]:
        return [e for e in self.ledger.executions() if action is None or e[0] == action]


_INFOS: list[Any] = []


def tool_infos() -> tuple[Any, ...]:
    """The world's ``ToolInfo``s, built once."""
    if not _INFOS:
        _INFOS.extend(World().registry.infos())
    return tuple(_INFOS)


# --- configs -------------------------------------------------------------------------------


def make_roles(
    *, research: dict[str, Any] | None = None, code: dict[str, Any] | None = None,
    communication: dict[str, Any] | None = None, verification: dict[str, Any] | None = None,
) -> tuple[RoleConfig, ...]:
    """Four roles; each keyword overrides fields of that role."""
    base: list[dict[str, Any]] = [
        {"name": "research", "model": HAIKU, "tools": ("lookup", "broken"),
         "system_prompt": "You research.", "max_tokens": 256, **(research or {})},
        {"name": "code", "model": SONNET, "tools": ("record", "deploy", "fragile"),
         "system_prompt": "You code.", "max_tokens": 256, **(code or {})},
        {"name": "communication", "model": HAIKU, "tools": ("record",),
         "system_prompt": "You write.", "max_tokens": 256, **(communication or {})},
        {"name": "verification", "model": SONNET, "system_prompt": "You check.",
         "max_tokens": 128, **(verification or {})},
    ]
    return tuple(RoleConfig(**r) for r in base)


def make_config(
    *,
    limits: RunLimits | None = None,
    escalation: EscalationRules | None = None,
    roles: tuple[RoleConfig, ...] | None = None,
    verification: bool = True,
    retry: RetryPolicy | None = None,
    orchestrator: dict[str, Any] | None = None,
    name: str = "test-agent",
    seed: int = 0,
) -> AgentConfig:
    return AgentConfig(
        name=name,
        orchestrator=OrchestratorConfig(model=SONNET, max_tokens=512, **(orchestrator or {})),
        roles=roles if roles is not None else make_roles(),
        tools=tool_infos(),
        limits=limits or RunLimits(),
        escalation=escalation if escalation is not None else QUIET,
        retry=retry or RetryPolicy(base_delay_s=1.0, jitter=0.0),
        prices=PRICES,
        verification_role="verification" if verification else None,
        seed=seed,
    )


# --- replies --------------------------------------------------------------------------------


def tool_use(name: str, input: Any, id: str) -> dict[str, Any]:
    return {"type": "tool_use", "id": id, "name": name, "input": input}


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def respond(request: ModelRequest, content: Sequence[dict[str, Any]], stop_reason: str, *,
            output_tokens: int | None = None, input_tokens: int | None = None) -> ModelResponse:
    """A reply whose usage is what the core reserves: input counted by the core's own
    counter, output the content's count (never more than the request's ``max_tokens``)."""
    out = count_tokens(list(content)) if output_tokens is None else output_tokens
    tokens_in = count_request_tokens(request) if input_tokens is None else input_tokens
    return ModelResponse(
        id="msg_test", model=request.model, content=tuple(content), stop_reason=stop_reason,
        usage=Usage(input_tokens=tokens_in, output_tokens=min(out, request.max_tokens)),
    )


def plan_step(id: str, role: str, instruction: str = "", depends_on: Sequence[str] = ()) -> dict[str, Any]:
    return {"id": id, "role": role, "instruction": instruction or f"do {id}",
            "depends_on": list(depends_on)}


def purpose_of(request: ModelRequest) -> str:
    """``plan``, ``reflect``, ``verify`` or ``act``: what a request is for."""
    choice = (request.tool_choice or {}).get("name")
    return {"submit_plan": "plan", "submit_reflection": "reflect",
            "submit_verdict": "verify"}.get(choice or "", "act")


Turn = list[Call] | str | Callable[[ModelRequest], ModelResponse]


@dataclass
class Script:
    """A whole agent's model as data; use as ``FunctionModel(script)``.

    ``plans`` are answered in order (the last repeats), as raw ``submit_plan`` inputs so
    that invalid plans can be scripted too. ``steps[step_id]`` is a list of turns (or a
    function of the turn number): a turn is a list of ``Call``s, a final text, or a
    function building the whole reply. Past its script a step answers ``"<id>: done"``.
    ``reflections`` and ``verdicts`` are answered in order, the last repeating.
    ``burn`` makes every reply use all of its ``max_tokens``; ``input_tokens`` reports a
    fixed input count instead of counting each request (long runs stay linear).
    """

    plans: list[list[dict[str, Any]]]
    steps: dict[str, list[Turn] | Callable[[int], Turn]] = field(default_factory=dict)
    reflections: list[dict[str, Any]] = field(
        default_factory=lambda: [{"decision": "done", "answer": "all done", "confidence": 0.95}])
    verdicts: list[str] = field(default_factory=lambda: ["pass"])
    burn: bool = False
    input_tokens: int | None = None
    requests: list[ModelRequest] = field(default_factory=list)
    replies: list[ModelResponse] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def _next(self, purpose: str, items: Sequence[T]) -> T:
        n = self.counts.get(purpose, 0)
        self.counts[purpose] = n + 1
        return items[min(n, len(items) - 1)]

    def __call__(self, request: ModelRequest) -> ModelResponse:
        self.requests.append(request)
        resp = self._answer(request)
        self.replies.append(resp)
        return resp

    def _answer(self, request: ModelRequest) -> ModelResponse:
        burn = request.max_tokens if self.burn else None
        purpose = purpose_of(request)
        if purpose == "plan":
            steps = self._next("plan", self.plans)
            return respond(request, [tool_use("submit_plan", {"steps": steps}, "plan")],
                           "tool_use", output_tokens=burn, input_tokens=self.input_tokens)
        if purpose == "reflect":
            r = self._next("reflect", self.reflections)
            return respond(request, [tool_use("submit_reflection", r, "reflect")], "tool_use",
                           output_tokens=burn, input_tokens=self.input_tokens)
        if purpose == "verify":
            v = self._next("verify", self.verdicts)
            return respond(request, [tool_use("submit_verdict", {"verdict": v, "reason": v},
                                              "verdict")], "tool_use", output_tokens=burn, input_tokens=self.input_tokens)
        sid = step_id_of(request) or "?"
        turn = turn_of(request)
        script = self.steps.get(sid, [])
        if callable(script):
            item: Turn | None = script(turn)
        else:
            item = script[turn] if turn < len(script) else None
        if item is None:
            return respond(request, [text(f"{sid}: done")], "end_turn", output_tokens=burn, input_tokens=self.input_tokens)
        if isinstance(item, str):
            return respond(request, [text(item)], "end_turn", output_tokens=burn, input_tokens=self.input_tokens)
        if callable(item):
            return item(request)
        uses = [tool_use(c.tool, c.input, f"{sid}-t{turn}-{i}") for i, c in enumerate(item)]
        return respond(request, uses, "tool_use", output_tokens=burn, input_tokens=self.input_tokens)

    def of(self, purpose: str, step_id: str | None = None) -> list[ModelRequest]:
        """The requests received for one purpose (and, for ``act``, one step)."""
        return [r for r in self.requests if purpose_of(r) == purpose
                and (step_id is None or step_id_of(r) == step_id)]


@dataclass
class Slow:
    """Wraps a model: each call first spends ``latency(request)`` seconds on ``clock``."""

    inner: Any
    clock: Clock
    latency: Callable[[ModelRequest], float]

    async def complete(self, request: ModelRequest, *, timeout_s: float | None = None) -> ModelResponse:
        await self.clock.sleep(self.latency(request))
        result: ModelResponse = await self.inner.complete(request, timeout_s=timeout_s)
        return result


def model(script: Script) -> FunctionModel:
    return FunctionModel(script)


# --- running ----------------------------------------------------------------------------------


def arun(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@dataclass
class Ran:
    """A finished run and everything a test looks at afterwards."""

    result: RunResult
    recorder: Recorder
    events: list[Event]
    intents: dict[str, dict[str, Any]]
    clock: VirtualClock

    @property
    def ctx(self) -> AgentContext:
        return self.result.context

    def trace(self) -> list[tuple[Event, AgentContext, list[Effect]]]:
        return fold_trace(self.events)

    def effects(self) -> list[Effect]:
        return [e for _, _, effs in self.trace() for e in effs]


def run_agent(
    config: AgentConfig,
    client: Any,
    *,
    world: World | None = None,
    tools: ToolRegistry | None = None,
    human: Any = None,
    recorder: Recorder | None = None,
    clock: VirtualClock | None = None,
    tracer: RunTracer | None = None,
    task: str = "Ship v2 and tell the team",
    run_id: str = "run-1",
    watch: Any = None,
) -> Ran:
    """One run through the real driver on a virtual clock (``watch``: an ``ActionLog`` fed
    every event, as the runner's)."""
    recorder = recorder if recorder is not None else MemoryRecorder()
    clock = clock or VirtualClock()
    tools = tools if tools is not None else (world or World()).registry
    driver = Driver(model=client, tools=tools, recorder=recorder, clock=clock, human=human,
                    tracer=tracer, watch=watch)
    result = arun(driver.run(config, task, run_id=run_id))
    events, intents = decode(run_id, recorder.read_run(run_id))
    return Ran(result, recorder, events, intents, clock)


def fold_trace(events: Sequence[Event]) -> list[tuple[Event, AgentContext, list[Effect]]]:
    """Fold events through a fresh context: each event with the context after it and the
    effects it caused."""
    ctx = AgentContext()
    out: list[tuple[Event, AgentContext, list[Effect]]] = []
    for ev in events:
        ctx, effects = step(ctx, ev)
        out.append((ev, ctx, effects))
    return out


# --- stepping the core by hand -------------------------------------------------------------


class Stepper:
    """Drives ``step`` directly, the way the driver would, and keeps what it saw.

    ``last`` holds the effects of the latest step; ``log`` every event applied, so a test
    can fold it again; ``states`` the state after each event.
    """

    def __init__(self, config: AgentConfig, task: str = "Ship v2", run_id: str = "run-s") -> None:
        self.ctx = AgentContext()
        self.log: list[Any] = []
        self.effects: list[Effect] = []
        self.states: list[str] = []
        self.now = 0.0
        self.last = self.send(RunStarted(run_id=run_id, task=task, config=config, at=0.0))

    def send(self, event: Any) -> list[Effect]:
        self.ctx, effects = step(self.ctx, event)
        self.log.append(event)
        self.effects.extend(effects)
        self.states.append(self.ctx.state.value)
        self.last = effects
        return effects

    def at(self, dt: float = 1.0) -> float:
        self.now += dt
        return self.now

    def pending(self, kind: str | None = None, agent: str | None = None) -> list[Any]:
        return [e for e in sorted(self.ctx.pending.values(), key=lambda e: e.effect_id)
                if (kind is None or e.kind == kind) and (agent is None or e.agent == agent)]

    def one(self, kind: str, agent: str | None = None) -> Any:
        found = self.pending(kind, agent)
        assert len(found) == 1, f"expected one pending {kind} for {agent}, got {found}"
        return found[0]

    def reply(self, eff: Any, content: Sequence[dict[str, Any]], stop: str = "end_turn", *,
              output_tokens: int | None = None, dt: float = 1.0) -> list[Effect]:
        resp = respond(eff.request, content, stop, output_tokens=output_tokens)
        return self.send(ModelReplied(effect_id=eff.effect_id, response=resp, at=self.at(dt)))

    def plan(self, steps: list[dict[str, Any]]) -> list[Effect]:
        eff = self.one("call_model", "orchestrator")
        return self.reply(eff, [tool_use("submit_plan", {"steps": steps}, "p")], "tool_use")

    def reflect(self, decision: str = "done", answer: str = "answer", confidence: float = 0.95,
                reason: str = "") -> list[Effect]:
        eff = self.one("call_model", "orchestrator")
        r = {"decision": decision, "answer": answer, "confidence": confidence, "reason": reason}
        return self.reply(eff, [tool_use("submit_reflection", r, "r")], "tool_use")

    def verdict(self, verdict: str = "pass") -> list[Effect]:
        eff = next(e for e in self.pending("call_model") if e.purpose == "verify")
        return self.reply(eff, [tool_use("submit_verdict", {"verdict": verdict}, "v")], "tool_use")

    def fail(self, eff: Any, kind: str = "overloaded", retry_after: float | None = None,
             dt: float = 1.0) -> list[Effect]:
        return self.send(ModelFailed(effect_id=eff.effect_id, error_kind=kind, message="boom",
                                     retry_after_s=retry_after, at=self.at(dt)))

    def tool(self, eff: Any, output: Any = "ok", is_error: bool = False,
             dt: float = 1.0) -> list[Effect]:
        return self.send(ToolReturned(effect_id=eff.effect_id, output=output, is_error=is_error,
                                      error_kind="tool_error" if is_error else None,
                                      at=self.at(dt)))

    def decide(self, eff: Any, decision: str, edited: dict[str, Any] | None = None,
               dt: float = 1.0) -> list[Effect]:
        return self.send(HumanDecided(effect_id=eff.effect_id, decision=decision,
                                      edited_input=edited, at=self.at(dt)))
