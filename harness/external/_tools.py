"""The tools an agent that brings its own loop calls: the world's, behind our wrappers.

Every call goes through the same ``Tools`` a runtime trial uses (the registry, under
the fault wrapper when the profile injects tool faults), so faults, idempotency keys
and exactly-once rules are the same. The tool-call limit is held here, and a call to a
tool that affects production first asks the scenario's approver, as the runtime's
``production_action`` rule does: denied (or unanswered) means the tool does not run
and the agent gets an error result. Nothing here raises for any of that: the agent
reads an error result, as it would from any tool.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from harness.core import HumanRequest, RunTool
from harness.errors import LimitExceeded
from harness.external._meter import Meter
from harness.external._spans import Spans, end_span
from harness.protocols import Clock, Human, Tools
from harness.scenario import ExecutedAction


@dataclass(frozen=True)
class ToolResult:
    """What a tool call gave: its output as text, and whether it is an error."""

    content: str
    is_error: bool = False

    def block(self, tool_use_id: str) -> dict[str, Any]:
        """The Messages API ``tool_result`` block answering ``tool_use_id``."""
        return {"type": "tool_result", "tool_use_id": tool_use_id, "content": self.content,
                "is_error": self.is_error}


class AgentTools:
    """The world's tools for one trial's agent: list their schemas, call them by name."""

    def __init__(self, tools: Tools, schemas: list[dict[str, Any]], *, meter: Meter,
                 human: Human, clock: Clock, run_id: str, task: str,
                 on_call: Any = None, approval_timeout_s: float = 300.0,
                 spans: Spans | None = None) -> None:
        self._spans = spans or Spans(None, "", "")
        self._tools = tools
        self._schemas = schemas
        self._meter = meter
        self._human = human
        self._clock = clock
        self._run_id = run_id
        self._task = task
        self._on_call = on_call
        self._timeout_s = approval_timeout_s
        self.calls = 0
        self._seen: Counter[str] = Counter()
        self.escalations = 0
        self.actions: list[tuple[str | None, ExecutedAction]] = []
        """Calls that ran without error, with the idempotency key they ran under."""

    def _key(self, name: str, tool_input: dict[str, Any]) -> str:
        """The call's idempotency key: the n-th call with this very tool and input in this
        attempt. A re-run after a crash makes the same calls and so sends the same keys,
        whatever order they come in; two different calls never share one."""
        digest = hashlib.sha256(json.dumps([name, tool_input], sort_keys=True, default=str)
                                .encode()).hexdigest()[:16]
        self._seen[digest] += 1
        return f"{self._run_id}:{name}:{digest}:{self._seen[digest]}"

    def schemas(self) -> list[dict[str, Any]]:
        """The tools in the Messages API ``tools`` format (a fresh list: the caller's)."""
        return [dict(s) for s in self._schemas]

    async def call(self, name: str, input: dict[str, Any]) -> ToolResult:
        """Run one tool call; faults, denials and limits come back as error results."""
        if self._on_call is not None:
            self._on_call()
        if name not in self._tools:
            return _error(f"unknown tool {name!r}")
        try:
            self._meter.check_tool()
        except LimitExceeded as err:
            return _error(f"not run: {err}")
        self.calls += 1
        info = self._tools.get(name).info()
        key = self._key(name, input) if info.side_effecting else None
        effect = RunTool(effect_id=f"tool-{self.calls}", agent="agent",
                         call_id=f"call_{self.calls}", tool=name, input=dict(input),
                         side_effecting=info.side_effecting,
                         affects_production=info.affects_production, idempotency_key=key)
        approved = False
        if info.affects_production:
            self.escalations += 1
            self._spans.event("harness.escalation", {
                "harness.escalation.rule": "production_action",
                "harness.escalation.why": f"{name} affects production"})
            decision = await self._human.decide(HumanRequest(
                rule="production_action", what_doing=f"the agent's own loop: {self._task}"[:300],
                why=f"{name} affects production",
                decision_needed="Approve this production action?",
                proposed_action={"tool": name, "input": dict(input)},
                timeout_s=self._timeout_s), self._clock)
            if decision.decision == "edit" and decision.edited_input is not None:
                effect = effect.model_copy(update={"input": dict(decision.edited_input)})
            elif decision.decision != "approve":
                return _error(f"{name} was not approved ({decision.decision}): not run")
            approved = True
        try:  # checked again: the approver's time may have used the last of the wall time
            self._meter.check_tool()
        except LimitExceeded as err:
            return _error(f"not run: {err}")
        self._meter.count_tool()
        span = self._spans.tool(name, effect.call_id, info.side_effecting)
        out, is_error, kind = await self._tools.run(effect, run_id=self._run_id, clock=self._clock)
        end_span(span, error=kind if is_error else None)
        if not is_error:
            self.actions.append((key, ExecutedAction(name, dict(effect.input), approved)))
        text = out if isinstance(out, str) else json.dumps(out, sort_keys=True, default=str)
        return ToolResult(text, is_error)


def _error(text: str) -> ToolResult:
    return ToolResult(json.dumps({"error": text}), True)
