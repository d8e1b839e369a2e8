"""A scenario's reference solution: what a perfect agent would plan, call and answer.

The simulated transport is driven by it (a skilled profile mostly follows it, a
weak one strays), and goal checks can compare a run against it. It is plain
validated data so it can sit in a scenario's YAML.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ExpectedCall(_Frozen):
    """One tool call the step should make: tool name and exact input."""

    tool: str = Field(min_length=1)
    input: dict[str, Any] = Field(default_factory=dict)

    def matches(self, name: str, tool_input: object) -> bool:
        return name == self.tool and tool_input == self.input


class ReferenceStep(_Frozen):
    """One plan step, as the orchestrator's ``submit_plan`` tool describes it."""

    id: str = Field(min_length=1, pattern=r"^\S+$")
    role: str = Field(min_length=1)
    instruction: str = Field(min_length=1)
    depends_on: tuple[str, ...] = ()
    tool_calls: tuple[ExpectedCall, ...] = ()

    def plan_entry(self) -> dict[str, Any]:
        return {
            "id": self.id, "role": self.role, "instruction": self.instruction,
            "depends_on": list(self.depends_on),
        }


class ReferenceSolution(_Frozen):
    """Plan steps (with their expected tool calls) and the final answer."""

    steps: tuple[ReferenceStep, ...] = Field(min_length=1)
    answer: str = Field(min_length=1)
    answer_key: tuple[str, ...] = ()
    """Phrases a correct answer must contain; derived from ``answer`` when empty."""

    @model_validator(mode="after")
    def _check_graph(self) -> ReferenceSolution:
        seen: set[str] = set()
        for step in self.steps:
            if step.id in seen:
                raise ValueError(f"duplicate step id {step.id!r}")
            for dep in step.depends_on:
                if dep not in seen:
                    raise ValueError(
                        f"step {step.id!r} depends on {dep!r}, which is not an earlier step"
                    )
            seen.add(step.id)
        return self

    def step(self, step_id: str) -> ReferenceStep | None:
        for step in self.steps:
            if step.id == step_id:
                return step
        return None

    def key_terms(self) -> tuple[str, ...]:
        """What a verifier looks for in a proposed answer (lower case)."""
        if self.answer_key:
            return tuple(k.lower() for k in self.answer_key)
        words = re.findall(r"[\w$.%-]+", self.answer.lower())
        stripped = (w.strip(".") for w in words)
        terms = [w for w in stripped if len(w) >= 4 or any(c.isdigit() for c in w)]
        return tuple(dict.fromkeys(terms)) or (self.answer.lower(),)

    def all_calls(self) -> list[ExpectedCall]:
        return [call for step in self.steps for call in step.tool_calls]
