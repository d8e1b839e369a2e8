"""Scripted and function-backed models: real ``ModelClient``s for tests and the demo.

``ScriptedModel`` answers from a script keyed by what the request *is* (a planning
call, step ``s2``'s third turn, a reflection), never by how many calls came before,
so a run that crashes and resumes gets the same answers: the property the crash
tests rely on. Usage is counted with the core's own token counter, so budget
reservations and settlements agree to the token.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.core import (
    ModelRequest,
    ModelResponse,
    PlanStep,
    Usage,
    count_request_tokens,
    count_tokens,
)
from harness.errors import ModelError
from harness.protocols import Clock

__test__ = False

_STEP = re.compile(r"^\[step ([^\]]+)\] ")


def usage_for(request: ModelRequest, content: Sequence[dict[str, Any]]) -> Usage:
    """Usage as the API reports it: never more output than the request's ``max_tokens``."""
    return Usage(input_tokens=count_request_tokens(request),
                 output_tokens=min(count_tokens(list(content)), request.max_tokens))


def reply(request: ModelRequest, content: list[dict[str, Any]], stop_reason: str,
          rid: str = "msg_scripted") -> ModelResponse:
    return ModelResponse.model_construct(id=rid, model=request.model, content=tuple(content),
                                         stop_reason=stop_reason,
                                         usage=usage_for(request, content))


def tool_use(name: str, input: dict[str, Any], id: str) -> dict[str, Any]:
    return {"type": "tool_use", "id": id, "name": name, "input": input}


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def step_id_of(request: ModelRequest) -> str | None:
    """The plan step a sub-agent request belongs to (from its first message)."""
    if not request.messages:
        return None
    first = request.messages[0]["content"]
    body = first if isinstance(first, str) else "".join(
        b.get("text", "") for b in first if b.get("type") == "text")
    m = _STEP.match(body)
    return m.group(1) if m else None


def turn_of(request: ModelRequest) -> int:
    """How many assistant turns the conversation already holds."""
    return sum(1 for m in request.messages if m["role"] == "assistant")


@dataclass
class Call:
    """One scripted tool call for a step's turn."""

    tool: str
    input: dict[str, Any] = field(default_factory=dict)


@dataclass
class ScriptedModel:
    """A whole agent's model, scripted: the plan, each step's tool calls, the verdicts.

    ``steps[step_id]`` is a list of turns; a turn is a list of ``Call`` (run in
    parallel) or a string (the step's final text). Past the script the step answers
    ``"done"``. ``latency_s`` is spent on the injected clock.
    """

    plan: list[PlanStep]
    steps: dict[str, list[list[Call] | str]]
    answer: str = "done"
    confidence: float = 0.95
    verdict: str = "pass"
    latency_s: float = 0.0
    clock: Clock | None = None
    calls: int = 0
    last_request: ModelRequest | None = None

    async def complete(self, request: ModelRequest, *, timeout_s: float | None = None) -> ModelResponse:
        self.calls += 1
        self.last_request = request
        if self.clock is not None and self.latency_s:
            await self.clock.sleep(self.latency_s)
        choice = (request.tool_choice or {}).get("name")
        if choice == "submit_plan":
            steps = [{"id": s.id, "role": s.role, "instruction": s.instruction,
                      "depends_on": list(s.depends_on)} for s in self.plan]
            return reply(request, [tool_use("submit_plan", {"steps": steps}, "plan")], "tool_use")
        if choice == "submit_reflection":
            return reply(request, [tool_use("submit_reflection", {
                "decision": "done", "answer": self.answer, "confidence": self.confidence,
            }, "reflect")], "tool_use")
        if choice == "submit_verdict":
            return reply(request, [tool_use("submit_verdict", {"verdict": self.verdict},
                                            "verdict")], "tool_use")
        sid = step_id_of(request) or "?"
        script = self.steps.get(sid, [])
        turn = turn_of(request)
        if turn >= len(script):
            return reply(request, [text(f"{sid}: done")], "end_turn")
        item = script[turn]
        if isinstance(item, str):
            return reply(request, [text(item)], "end_turn")
        uses = [tool_use(c.tool, c.input, f"{sid}-t{turn}-{i}") for i, c in enumerate(item)]
        return reply(request, uses, "tool_use")


@dataclass
class FunctionModel:
    """Hands each request to your function, like pydantic-ai's ``FunctionModel``."""

    fn: Callable[[ModelRequest], ModelResponse]
    calls: int = 0

    async def complete(self, request: ModelRequest, *, timeout_s: float | None = None) -> ModelResponse:
        self.calls += 1
        return self.fn(request)


@dataclass
class FailingModel:
    """Wraps a model; the calls numbered in ``failures`` (1-based) raise the given error."""

    inner: Any
    failures: dict[int, ModelError]
    calls: int = 0

    async def complete(self, request: ModelRequest, *, timeout_s: float | None = None) -> ModelResponse:
        self.calls += 1
        err = self.failures.get(self.calls)
        if err is not None:
            raise err
        result: ModelResponse = await self.inner.complete(request, timeout_s=timeout_s)
        return result
