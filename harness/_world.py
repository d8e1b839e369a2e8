"""The world a scenario's agent acts on: the base class every world subclasses.

A world keeps its state as plain pydantic data built from a scenario's initial
world state (unknown keys are errors). Its tools are ``harness.tools.Tool``
objects whose outputs are fresh JSON-able dicts, so a fault wrapper may alter or
replace them without touching the world.

Side-effecting tools go through ``World._act``, which honours idempotency keys the
way a payment API does: the first call with a key acts and records its outcome
(result *or* refusal); a repeat with the same key and the same input answers from
the record without acting again; the same key with a different call is refused.
``executions`` counts the times a tool really changed the world, ``replays`` the
times a key was answered from the ledger, ``calls`` every call that reached the
world. Simulated latency is spent first, with ``ctx.clock.sleep``, so a timeout
that the registry notices afterwards can still find the action done: the
"timed out but it happened" case a retry with the same key must survive.
"""

from __future__ import annotations

import copy
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.core import RunTool
from harness.errors import ToolError

if TYPE_CHECKING:  # the tools import the protocols, which name this class: no import cycle
    from harness.protocols import Clock
    from harness.tools import Tool, ToolContext, ToolRegistry

JSON = dict[str, Any]


class Data(BaseModel):
    """World state: mutable, but unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


class Input(BaseModel):
    """A tool's input: the schema the model sees. Extra keys are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


Latency = Annotated[float, Field(ge=0)]


class WorldSettings(Data):
    """Options every world takes, under the ``settings`` key of its initial state."""

    TOOL_NAMES: ClassVar[frozenset[str]] = frozenset()

    default_latency_s: Latency = 0.0
    """Simulated seconds every tool call takes, unless ``latency_s`` names the tool."""
    latency_s: dict[str, Latency] = Field(default_factory=dict)
    """Simulated seconds per tool name, spent on the injected clock."""

    @model_validator(mode="after")
    def _known_tools(self) -> WorldSettings:
        unknown = sorted(set(self.latency_s) - self.TOOL_NAMES)
        if self.TOOL_NAMES and unknown:
            raise ValueError(f"latency_s names unknown tool(s) {unknown}; "
                             f"known: {sorted(self.TOOL_NAMES)}")
        return self


class Refusal(Exception):
    """The world refuses a call; becomes a ``ToolError`` the agent reads as an error result."""

    def __init__(self, message: str, kind: str = "refused") -> None:
        self.message = message
        self.kind = kind
        super().__init__(message)


@dataclass(frozen=True)
class _Recorded:
    tool: str
    input: JSON
    result: JSON | None
    refusal: tuple[str, str] | None


def canonical(value: JSON) -> JSON:
    """A JSON-able copy with every mapping's keys sorted: the same state, the same bytes."""
    out: JSON = json.loads(json.dumps(value, sort_keys=True))
    return out




class World(ABC):
    """Base of every world: a scenario's state, its tools, and the idempotency ledger.

    Subclass it, build the state from the scenario's ``world.state`` in ``__init__``
    (the class is called as ``cls(state)``), return the tools bound to this world from
    ``tools()`` and the state the goal checks read from ``snapshot()``. Write each
    side-effecting tool's body through ``_act``: that is what makes a retried or resumed
    call with the same idempotency key act once, as a payment API would.
    """

    kind: ClassVar[str] = "world"

    def __init__(self, settings: WorldSettings | None = None) -> None:
        self.settings = settings if settings is not None else WorldSettings()
        self.calls: dict[str, int] = {}
        """Every call that reached the world, per tool (reads, refusals and replays too)."""
        self.executions: dict[str, int] = {}
        """Times each side-effecting tool really changed the world."""
        self.replays: dict[str, int] = {}
        """Times each tool answered a repeated idempotency key from the ledger."""
        self.actions: list[JSON] = []
        """Every real execution in order: ``{"tool", "input", "result"}``."""
        self._ledger: dict[str, _Recorded] = {}

    @abstractmethod
    def snapshot(self) -> JSON:
        """The world's state now: JSON-able, keys sorted, settings and counters left out."""

    @abstractmethod
    def tools(self) -> list[Tool]:
        """The world's tools, bound to this world."""

    def registry(self) -> ToolRegistry:
        from harness.tools import ToolRegistry

        return ToolRegistry(self.tools())

    async def call(
        self, name: str, input: Mapping[str, Any] | None = None, *, key: str | None = None,
        clock: Clock | None = None, run_id: str = "direct",
    ) -> tuple[Any, bool, str | None]:
        """Call one tool the way the runtime does; returns ``(output, is_error, error_kind)``."""
        if clock is None:
            from harness.driver import VirtualClock

            clock = VirtualClock()
        n = sum(self.calls.values())
        effect = RunTool(effect_id=f"{run_id}#{n}", agent="direct", call_id=f"call-{n}",
                         tool=name, input=dict(input or {}), idempotency_key=key)
        return await self.registry().run(effect, run_id=run_id, clock=clock)

    # -- helpers for the worlds' tools ----------------------------------------------------

    async def _arrive(self, name: str, ctx: ToolContext) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1
        delay = self.settings.latency_s.get(name, self.settings.default_latency_s)
        if delay > 0:
            await ctx.clock.sleep(delay)

    async def _read(self, name: str, ctx: ToolContext, fn: Callable[[], JSON]) -> JSON:
        """Run a read-only tool body: latency, then ``fn``; a ``Refusal`` becomes a ToolError."""
        await self._arrive(name, ctx)
        try:
            return canonical(fn())
        except Refusal as err:
            raise ToolError(name, err.message, kind=err.kind) from None

    async def _act(
        self, name: str, args: BaseModel, ctx: ToolContext, fn: Callable[[], JSON]
    ) -> JSON:
        """Run a side-effecting tool body at most once per idempotency key.

        ``fn`` must check everything before it changes anything, so a ``Refusal``
        leaves the world as it was. Refusals are recorded under the key too, and a
        repeat gets the same refusal back.
        """
        await self._arrive(name, ctx)
        key = ctx.idempotency_key
        given = args.model_dump(mode="json")
        if key is not None and key in self._ledger:
            rec = self._ledger[key]
            if rec.tool != name or rec.input != given:
                raise ToolError(name, f"idempotency key {key!r} was already used for a "
                                f"different call ({rec.tool} with {rec.input}); "
                                "a key may only repeat the same call", kind="idempotency_conflict")
            self.replays[name] = self.replays.get(name, 0) + 1
            if rec.refusal is not None:
                raise ToolError(name, rec.refusal[0], kind=rec.refusal[1])
            assert rec.result is not None
            return copy.deepcopy(rec.result)
        try:
            result = canonical(fn())
        except Refusal as err:
            if key is not None:
                self._ledger[key] = _Recorded(name, given, None, (err.message, err.kind))
            raise ToolError(name, err.message, kind=err.kind) from None
        if key is not None:
            self._ledger[key] = _Recorded(name, given, copy.deepcopy(result), None)
        self.executions[name] = self.executions.get(name, 0) + 1
        self.actions.append({"tool": name, "input": given, "result": copy.deepcopy(result)})
        return result
