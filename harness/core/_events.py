"""Events: everything the world can tell the core. Validated when built.

Each event names the effect it answers (``effect_id``) and carries the time it
happened (``at``): the core never reads a clock, so times arrive inside events.
The ``kind`` tag is the discriminator the log stores beside the payload.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from harness.core._config import AgentConfig
from harness.core._llm_types import ModelResponse, Usage


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    at: float = 0.0


class RunStarted(_Event):
    """The first event of every run; it carries the whole configuration so the log alone resumes it."""

    kind: Literal["run_started"] = "run_started"
    run_id: str = Field(min_length=1)
    task: str
    config: AgentConfig


class ModelReplied(_Event):
    kind: Literal["model_replied"] = "model_replied"
    effect_id: str
    response: ModelResponse


class ModelFailed(_Event):
    kind: Literal["model_failed"] = "model_failed"
    effect_id: str
    error_kind: str
    message: str = ""
    status: int | None = None
    retry_after_s: float | None = Field(None, ge=0)
    usage: Usage | None = None
    """What the provider billed for a reply that arrived but was unusable (say, a
    malformed tool call): charged like a reply's usage. ``None``: nothing was billed."""


class ToolReturned(_Event):
    kind: Literal["tool_returned"] = "tool_returned"
    effect_id: str
    output: Any = None
    is_error: bool = False
    error_kind: str | None = None
    """``tool_error``, ``timeout``, ``invalid_input``, ``malformed_output``... when ``is_error``."""


class HumanDecided(_Event):
    kind: Literal["human_decided"] = "human_decided"
    effect_id: str
    decision: Literal["approve", "deny", "edit", "timeout"]
    edited_input: dict[str, Any] | None = None
    """With ``edit``: the tool input (or, for an answer, ``{"answer": ...}``) to use instead."""
    note: str = ""


class SideEffectUnknown(_Event):
    """Sent on resume for a side-effecting call that started before a crash, never
    finished, and whose tool cannot take an idempotency key: nobody knows if it ran."""

    kind: Literal["side_effect_unknown"] = "side_effect_unknown"
    effect_id: str


Event = Annotated[
    RunStarted | ModelReplied | ModelFailed | ToolReturned | HumanDecided | SideEffectUnknown,
    Field(discriminator="kind"),
]

EVENT_TYPES: dict[str, type[_Event]] = {
    t.model_fields["kind"].default: t
    for t in (RunStarted, ModelReplied, ModelFailed, ToolReturned, HumanDecided, SideEffectUnknown)
}

event_adapter: TypeAdapter[Event] = TypeAdapter(Event)
