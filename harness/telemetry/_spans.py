"""Spans for one run, named and attributed per the OpenTelemetry GenAI conventions.

``invoke_agent {name}`` wraps the run; ``chat {model}`` wraps each model call and
``execute_tool {tool}`` each tool call, as its children. State transitions,
escalations and budget checks are span events; FSM state and remaining budget go
under ``harness.``. Attributes are only computed when a span records, so with no
tracer provider configured (the OpenTelemetry API's no-op default) tracing costs
next to nothing on the hot path. ``gen_ai.system`` is deprecated and never set.
"""

from __future__ import annotations

from typing import Any, Protocol

from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode

from harness.core import (
    DIMENSIONS,
    AgentConfig,
    AgentContext,
    CallModel,
    Effect,
    ModelResponse,
    RequestHuman,
    RunTool,
    RunUsage,
    State,
)

PROVIDER = "anthropic"


class RunView(Protocol):
    """What a budget-check event reads of a run: an ``AgentContext`` or the driver's
    ``Machine`` (read in place, so tracing takes no snapshot per effect)."""

    @property
    def state(self) -> State: ...
    @property
    def config(self) -> AgentConfig | None: ...
    @property
    def used(self) -> RunUsage: ...
    @property
    def now(self) -> float: ...
    @property
    def started_at(self) -> float: ...


class RunTracer:
    def __init__(self, tracer: trace.Tracer | None = None) -> None:
        self._tracer = tracer or trace.get_tracer("harness")
        self._run: Span | None = None
        self._ctx: Any = None
        self._spans: dict[str, Span] = {}
        self._recording = False
        """The run span's ``is_recording()``, read once: it cannot change while the run lasts,
        and with no tracer provider every per-event hook returns on this flag alone."""

    def start_run(self, agent_name: str, run_id: str, resumed: bool = False) -> None:
        span = self._tracer.start_span(f"invoke_agent {agent_name}")
        if span.is_recording():
            span.set_attributes({
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.provider.name": PROVIDER,
                "gen_ai.agent.name": agent_name,
                "gen_ai.conversation.id": run_id,
                "harness.run_id": run_id,
                "harness.resumed": resumed,
            })
        self._run = span
        self._recording = span.is_recording()
        self._ctx = trace.set_span_in_context(span)

    @property
    def recording(self) -> bool:
        return self._recording

    def effect_started(self, effect: Effect, ctx: RunView) -> None:
        if not self._recording:
            return
        if isinstance(effect, CallModel):
            req = effect.request
            # attributes given at the start are cleaned and stored once, not twice
            span = self._tracer.start_span(f"chat {req.model}", context=self._ctx, attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": PROVIDER,
                "gen_ai.request.model": req.model,
                "gen_ai.request.max_tokens": req.max_tokens,
                "harness.agent": effect.agent,
                "harness.purpose": effect.purpose,
                "harness.attempt": effect.attempt,
            })
        elif isinstance(effect, RunTool):
            span = self._tracer.start_span(
                f"execute_tool {effect.tool}", context=self._ctx, attributes={
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": effect.tool,
                    "gen_ai.tool.call.id": effect.call_id,
                    "gen_ai.tool.type": "function",
                    "harness.agent": effect.agent,
                    "harness.tool.intent": effect.intent[:200],
                    "harness.tool.side_effecting": effect.side_effecting,
                })
        elif isinstance(effect, RequestHuman):
            r = effect.request
            assert self._run is not None
            self._run.add_event("harness.escalation", {
                "harness.escalation.rule": r.rule, "harness.escalation.why": r.why,
                "harness.escalation.decision_needed": r.decision_needed,
            })
            return
        else:
            return
        span.add_event("harness.budget_check", _remaining(ctx))
        self._spans[effect.effect_id] = span

    def model_replied(self, effect_id: str, resp: ModelResponse) -> None:
        span = self._spans.pop(effect_id, None)
        if span is None:
            return
        span.set_attributes({
            "gen_ai.response.model": resp.model,
            "gen_ai.response.id": resp.id,
            "gen_ai.response.finish_reasons": [resp.stop_reason],
            "gen_ai.usage.input_tokens": resp.usage.total_input_tokens,
            "gen_ai.usage.output_tokens": resp.usage.output_tokens,
        })
        span.end()

    def failed(self, effect_id: str, error_type: str, message: str = "") -> None:
        span = self._spans.pop(effect_id, None)
        if span is None:
            return
        span.set_attribute("error.type", error_type)
        span.set_status(Status(StatusCode.ERROR, message[:200]))
        span.end()

    def tool_returned(self, effect_id: str) -> None:
        span = self._spans.pop(effect_id, None)
        if span is not None:
            span.end()

    def state_changed(self, before: State, after: State, event_kind: str) -> None:
        if self._recording:
            assert self._run is not None
            self._run.add_event("harness.transition", {
                "harness.state.from": before.value, "harness.state.to": after.value,
                "harness.event": event_kind,
            })

    def end_run(self, ctx: AgentContext, error: BaseException | None = None) -> None:
        for span in self._spans.values():
            span.end()
        self._spans.clear()
        run = self._run
        if run is None:
            return
        if run.is_recording():
            run.set_attributes({"harness.state": ctx.state.value, **_remaining(ctx)})
            if ctx.outcome is not None:
                run.set_attribute("harness.outcome", ctx.outcome)
            if ctx.exhausted_limit:
                run.set_attribute("harness.budget.exhausted", ctx.exhausted_limit)
            if error is not None:
                run.set_attribute("error.type", type(error).__name__)
                run.set_status(Status(StatusCode.ERROR, str(error)[:200]))
            elif ctx.outcome not in (None, "done"):
                run.set_attribute("error.type", str(ctx.outcome))
        run.end()
        self._run = None
        self._recording = False


def _remaining(ctx: RunView) -> dict[str, Any]:
    out: dict[str, Any] = {"harness.state": ctx.state.value}
    if ctx.config is None:
        return out
    limits = ctx.config.limits
    for name in DIMENSIONS:
        limit = getattr(limits, name)
        if limit is not None:
            out[f"harness.budget.remaining.{name}"] = limit - getattr(ctx.used, name)
    if limits.wall_time_s is not None:
        out["harness.budget.remaining.wall_time_s"] = (
            limits.wall_time_s - (ctx.now - ctx.started_at))
    return out
