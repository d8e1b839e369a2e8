"""Which tool calls actually ran, and which a person approved: read off the events.

Both backends judge a trial's required and forbidden actions from this, so it lives in
the pure core: the local runner hands it to the driver as its ``watch``, and a Temporal
workflow (which may import nothing that performs I/O) feeds its machine through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.core._effects import Effect, RunTool
from harness.core._events import Event, HumanDecided, ToolReturned
from harness.core._machine import Machine


@dataclass(frozen=True)
class ExecutedAction:
    """A tool call that ran to completion (its result came back without error)."""

    tool: str
    input: dict[str, Any]
    approved: bool = False
    """A human approved this very call before it ran."""


class ActionLog:
    """Feeds a machine and lists the tool calls that actually ran, with who approved them.

    It sees the run's events as they are fed (and a resume's replay of the log), so a
    finished run is judged without reading its log back."""

    __slots__ = ("actions", "approved", "issued")

    def __init__(self) -> None:
        self.issued: dict[str, RunTool] = {}
        self.approved: set[str] = set()
        self.actions: list[ExecutedAction] = []

    def feed(self, m: Machine, ev: Event) -> list[Effect]:
        asked = None
        if isinstance(ev, HumanDecided) and ev.decision in ("approve", "edit"):
            pending = m.approvals.get(ev.effect_id)
            asked = pending.tool.call_id if pending is not None and pending.tool else None
        effects = m.feed(ev)
        for eff in effects:
            if isinstance(eff, RunTool):
                self.issued[eff.effect_id] = eff
                if asked is not None and eff.call_id == asked:
                    self.approved.add(eff.effect_id)
        if isinstance(ev, ToolReturned) and not ev.is_error:
            ran = self.issued.get(ev.effect_id)
            if ran is not None:
                self.actions.append(ExecutedAction(ran.tool, dict(ran.input),
                                                   ran.effect_id in self.approved))
        return effects
