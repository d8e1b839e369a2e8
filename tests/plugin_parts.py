"""Parts a team would write for its own agent, named from scenario files by reference
(``plugin_parts:TicketWorld``) or by the names ``test_plugins`` registers for them.

A ticket queue world, plain-Python tools (one side-effecting that honours its
idempotency key, one production-affecting), an approver policy, a fault profile and a
model profile; and, for the error tests, parts that are wrong in each way a user's can be.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, Field

import harness
from harness.llm import PROFILES

__test__ = False


class Ticket(BaseModel):
    id: str
    title: str
    status: str = "open"


class QueueState(BaseModel):
    tickets: list[Ticket] = Field(default_factory=list)


class TicketRef(harness.Input):
    ticket_id: str


class TicketWorld(harness.World):
    """A ticket queue: read a ticket, close it (side-effecting, through the ledger)."""

    def __init__(self, initial: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.state = QueueState.model_validate(dict(initial or {}))

    def snapshot(self) -> dict[str, Any]:
        return {"tickets": {t.id: t.model_dump() for t in self.state.tickets}}

    def _ticket(self, ticket_id: str) -> Ticket:
        for t in self.state.tickets:
            if t.id == ticket_id:
                return t
        raise harness.Refusal(f"no ticket {ticket_id!r}", kind="not_found")

    def tools(self) -> list[harness.Tool]:
        @harness.tool(description="Read one ticket.")
        async def read_ticket(args: TicketRef, ctx: harness.ToolContext) -> dict[str, Any]:
            return await self._read("read_ticket", ctx,
                                    lambda: self._ticket(args.ticket_id).model_dump())

        @harness.tool(description="Close a ticket.", side_effecting=True)
        async def close_ticket(args: TicketRef, ctx: harness.ToolContext) -> dict[str, Any]:
            def close() -> dict[str, Any]:
                t = self._ticket(args.ticket_id)
                t.status = "closed"
                return {"ticket": t.id, "status": t.status}

            return await self._act("close_ticket", args, ctx, close)

        return [read_ticket, close_ticket]


def make_ticket_world(state: dict[str, Any]) -> TicketWorld:
    """A factory, the other form a world plug-in may take."""
    return TicketWorld(state)


#: What the plain-Python tools really did, by idempotency key: (tool, input) per run.
EXECUTED: dict[str, list[tuple[str, dict[str, Any]]]] = {}
#: Every call that reached them (a resumed run sends a key again; it must not act twice).
CALLS: list[tuple[str, str | None]] = []


def _once(tool: str, key: str | None, given: dict[str, Any]) -> dict[str, Any]:
    CALLS.append((tool, key))
    if key is None:
        raise harness.ToolError(tool, "a side-effecting call came without an idempotency key")
    if key not in EXECUTED:
        EXECUTED[key] = [(tool, given)]
    return {"ok": True, "receipt": key[-8:]}


@harness.tool(side_effecting=True)
async def notify_customer(ticket_id: str, message: str, idempotency_key: str | None) -> dict[
        str, Any]:
    """Tell the customer about their ticket (sends a message: side-effecting)."""
    await asyncio.sleep(0)
    return _once("notify_customer", idempotency_key,
                 {"ticket_id": ticket_id, "message": message})


@harness.tool(side_effecting=True, affects_production=True)
def restart_service(service: str, ctx: harness.ToolContext) -> dict[str, Any]:
    """Restart a production service (a person approves it first)."""
    return _once("restart_service", ctx.idempotency_key, {"service": service})


class Urgency(BaseModel):
    ticket_id: str
    level: int = Field(ge=1, le=5)


@harness.tool
def rate_urgency(args: Urgency) -> dict[str, Any]:
    """Rate a ticket's urgency (read-only)."""
    return {"ticket_id": args.ticket_id, "level": args.level}


class Refuser:
    """An approver policy of our own: denies everything at once."""

    def __init__(self, spec: Any) -> None:
        self.spec = spec
        self.requests = 0

    async def decide(self, request: Any, clock: harness.Clock) -> harness.HumanDecision:
        self.requests += 1
        return harness.HumanDecision(decision="deny", note=str(self.spec.options.get("why")))


GENTLE: dict[str, float] = {"tool_latency": 0.5}
"""A fault profile of our own: only added latency."""

STEADY = PROFILES["claude-haiku-4-5"].model_copy(update={
    "model": "claude-haiku-4-5", "skill": 1.0, "loop_tendency": 0.0, "premature_end": 0.0,
    "replan_tendency": 0.0, "plan_error": 0.0, "false_done": 0.0,
    "injection_susceptibility": 0.0})
"""A simulated Haiku that follows the reference exactly."""


# -- wrong parts, one per mistake a user can make ------------------------------------------


class NotAWorld:
    def __init__(self, state: Any) -> None:
        self.state = state


def not_a_tool(ticket_id: str) -> dict[str, Any]:
    """A plain function nobody decorated."""
    return {}


class Broken:
    """Not a pydantic model."""


def makes_a_string(state: Any) -> str:
    return "not a world"


NUMBER = 3


class Hook(BaseModel):
    callback: Callable[[], None]
    """Validates, but no JSON schema can describe it."""


@harness.tool
def hooked(args: Hook) -> dict[str, Any]:
    """A tool whose input model has no JSON schema."""
    return {}
