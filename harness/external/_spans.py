"""Spans for an agent that brings its own loop, named and attributed as the runtime's are
(``invoke_agent``, ``chat <model>``, ``execute_tool <name>``: the GenAI conventions), so
a trace reads the same whichever loop made the calls. Without a tracer it does nothing."""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode

from harness.telemetry._spans import PROVIDER


class Spans:
    def __init__(self, tracer: trace.Tracer | None, agent_name: str, run_id: str) -> None:
        self._run: Span | None = None
        self._ctx: Any = None
        if tracer is None:
            self._tracer = None
            return
        self._tracer = tracer
        self._run = tracer.start_span(f"invoke_agent {agent_name}", attributes={
            "gen_ai.operation.name": "invoke_agent", "gen_ai.provider.name": PROVIDER,
            "gen_ai.agent.name": agent_name, "gen_ai.conversation.id": run_id,
            "harness.run_id": run_id, "harness.agent.loop": "entry",
        })
        self._ctx = trace.set_span_in_context(self._run)

    def chat(self, model: str, max_tokens: int) -> Span | None:
        if self._tracer is None:
            return None
        return self._tracer.start_span(f"chat {model}", context=self._ctx, attributes={
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": PROVIDER,
            "gen_ai.request.model": model, "gen_ai.request.max_tokens": max_tokens,
            "harness.agent": "agent",
        })

    def tool(self, name: str, call_id: str, side_effecting: bool) -> Span | None:
        if self._tracer is None:
            return None
        return self._tracer.start_span(f"execute_tool {name}", context=self._ctx, attributes={
            "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name,
            "gen_ai.tool.call.id": call_id, "gen_ai.tool.type": "function",
            "harness.agent": "agent", "harness.tool.side_effecting": side_effecting,
        })

    def event(self, name: str, attributes: dict[str, Any]) -> None:
        if self._run is not None:
            self._run.add_event(name, attributes)

    def end(self, outcome: str, exhausted: str | None, error: str | None) -> None:
        run = self._run
        if run is None:
            return
        run.set_attribute("harness.outcome", outcome)
        if exhausted:
            run.set_attribute("harness.budget.exhausted", exhausted)
        if error is not None:
            run.set_attribute("error.type", outcome)
            run.set_status(Status(StatusCode.ERROR, error[:200]))
        run.end()
        self._run = None


def end_span(span: Span | None, *, error: str | None = None,
             attributes: dict[str, Any] | None = None) -> None:
    if span is None:
        return
    if attributes:
        span.set_attributes(attributes)
    if error is not None:
        span.set_attribute("error.type", error)
        span.set_status(Status(StatusCode.ERROR, error[:200]))
    span.end()
