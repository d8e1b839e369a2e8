"""A minimal plan → act → reflect → verify loop for probing model backends.

This is not the runtime (that is ``harness.core`` and ``harness.driver``); it is the
smallest loop that speaks the runtime's conventions, so the LLM layer can show on
its own that profiles differ in completion and cost, that a recorded session
replays identically, and how fast each transport answers. Tool calls succeed with
a canned result; the goal is met when every reference call was made and the
verified answer carries the reference's key content.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from pydantic import BaseModel, ConfigDict

from harness.core._llm_types import ModelRequest, ModelResponse, Usage
from harness.llm._prices import price_for
from harness.llm._reference import ReferenceSolution
from harness.protocols import ModelClient

PLAN_TOOL: dict[str, Any] = {
    "name": "submit_plan",
    "description": "Submit the plan: ordered steps, each routed to a role.",
    "input_schema": {
        "type": "object",
        "properties": {
            "steps": {"type": "array", "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"}, "role": {"type": "string"},
                    "instruction": {"type": "string"},
                    "depends_on": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["id", "role", "instruction", "depends_on"],
            }},
            "rationale": {"type": "string"},
        },
        "required": ["steps", "rationale"],
    },
}
REFLECTION_TOOL: dict[str, Any] = {
    "name": "submit_reflection",
    "description": "Decide whether the task is done.",
    "input_schema": {
        "type": "object",
        "properties": {
            "decision": {"type": "string", "enum": ["done", "replan", "escalate", "fail"]},
            "answer": {"type": "string"},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "reason": {"type": "string"},
        },
        "required": ["decision", "answer", "confidence", "reason"],
    },
}
VERDICT_TOOL: dict[str, Any] = {
    "name": "submit_verdict",
    "description": "Judge the proposed answer.",
    "input_schema": {
        "type": "object",
        "properties": {"verdict": {"type": "string", "enum": ["pass", "fail"]},
                       "reason": {"type": "string"}},
        "required": ["verdict", "reason"],
    },
}


class EpisodeResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    completed: bool
    decision: str
    verdict: str | None
    answer: str
    calls: int
    replans: int
    usage: Usage
    cost_usd: float
    tool_calls: tuple[tuple[str, str], ...]
    """(tool name, canonical JSON input) of every call the sub-agents made."""


class _Tally:
    def __init__(self, client: ModelClient, model: str) -> None:
        self.client = client
        self.model = model
        self.calls = 0
        self.cost = 0.0
        self.tokens = Counter[str]()
        self.price = price_for(model)

    async def ask(self, request: ModelRequest) -> ModelResponse:
        response = await self.client.complete(request)
        self.calls += 1
        self.cost += self.price.cost(response.usage)
        for field in Usage.model_fields:
            self.tokens[field] += getattr(response.usage, field)
        return response


def _forced(response: ModelResponse, name: str) -> dict[str, Any] | None:
    for block in response.tool_uses():
        if block.get("name") == name and isinstance(block.get("input"), dict):
            return dict(block["input"])
    return None


async def run_episode(
    client: ModelClient,
    reference: ReferenceSolution,
    *,
    model: str,
    task: str = "Complete the task.",
    max_turns_per_step: int = 8,
    max_replans: int = 2,
    max_tokens: int = 1024,
) -> EpisodeResult:
    """Drive one task through ``client`` with the runtime's call conventions."""
    tally = _Tally(client, model)
    role_tools: dict[str, list[dict[str, Any]]] = {}
    for step in reference.steps:
        tools = role_tools.setdefault(step.role, [])
        for call in step.tool_calls:
            if all(t["name"] != call.tool for t in tools):
                tools.append({"name": call.tool, "description": f"The {call.tool} tool.",
                              "input_schema": {"type": "object"}})
    made: list[tuple[str, str]] = []
    history: list[dict[str, Any]] = [{"role": "user", "content": task}]
    decision, answer, verdict, replans = "fail", "", None, 0
    while True:
        plan_response = await tally.ask(ModelRequest(
            model=model, system="You are the orchestrator. Plan the task.",
            messages=tuple(history), tools=(PLAN_TOOL,),
            tool_choice={"type": "tool", "name": "submit_plan"}, max_tokens=max_tokens,
        ))
        plan = _forced(plan_response, "submit_plan")
        if plan is None:
            break
        results: list[str] = []
        for entry in plan.get("steps", []):
            results.append(await _run_step(tally, entry, role_tools, made, max_turns_per_step,
                                           max_tokens))
        reflect = _forced(await tally.ask(ModelRequest(
            model=model, system="You are the orchestrator. Reflect on the results.",
            messages=({"role": "user", "content": task + "\n\nStep results:\n" + "\n".join(results)},),
            tools=(REFLECTION_TOOL,), tool_choice={"type": "tool", "name": "submit_reflection"},
            max_tokens=max_tokens,
        )), "submit_reflection")
        if reflect is None:
            break
        decision = str(reflect.get("decision"))
        if decision == "replan" and replans < max_replans:
            replans += 1
            history = [*history,
                       {"role": "assistant", "content": plan_response.content},
                       {"role": "user", "content": [
                           {"type": "tool_result", "tool_use_id": plan_response.tool_uses()[0]["id"],
                            "content": "Results:\n" + "\n".join(results)},
                           {"type": "text", "text": f"Re-plan: {reflect.get('reason', '')}"},
                       ]}]
            continue
        answer = str(reflect.get("answer", ""))
        break
    if decision == "done":
        judged = _forced(await tally.ask(ModelRequest(
            model=model, system="You are the verification agent.",
            messages=({"role": "user", "content": f"[step verify] Check the answer: {answer}"},),
            tools=(VERDICT_TOOL,), tool_choice={"type": "tool", "name": "submit_verdict"},
            max_tokens=max_tokens,
        )), "submit_verdict")
        verdict = str(judged.get("verdict")) if judged else None
    expected = Counter((c.tool, json.dumps(c.input, sort_keys=True)) for c in reference.all_calls())
    all_made = not (expected - Counter(made))
    answer_ok = all(term in answer.lower() for term in reference.key_terms())
    return EpisodeResult(
        completed=decision == "done" and verdict == "pass" and all_made and answer_ok,
        decision=decision, verdict=verdict, answer=answer, calls=tally.calls, replans=replans,
        usage=Usage(**tally.tokens), cost_usd=tally.cost, tool_calls=tuple(made),
    )


async def _run_step(
    tally: _Tally, entry: dict[str, Any], role_tools: dict[str, list[dict[str, Any]]],
    made: list[tuple[str, str]], max_turns: int, max_tokens: int,
) -> str:
    step_id = str(entry.get("id"))
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": f"[step {step_id}] {entry.get('instruction', '')}"}
    ]
    tools = tuple(role_tools.get(str(entry.get("role")), ()))
    for _ in range(max_turns):
        response = await tally.ask(ModelRequest(
            model=tally.model, system=f"You are the {entry.get('role')} agent.",
            messages=tuple(messages), tools=tools, max_tokens=max_tokens,
        ))
        uses = response.tool_uses()
        if response.stop_reason != "tool_use" or not uses:
            return f"{step_id}: {response.text()}"
        messages.append({"role": "assistant", "content": list(response.content)})
        results = []
        for use in uses:
            made.append((str(use["name"]), json.dumps(use["input"], sort_keys=True)))
            results.append({"type": "tool_result", "tool_use_id": use["id"],
                            "content": f"ok: {use['name']} done"})
        messages.append({"role": "user", "content": results})
    return f"{step_id}: gave up after {max_turns} turns"
