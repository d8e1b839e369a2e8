"""The seams through which the runtime touches the world: one small shape per kind of I/O.

    ModelClient   answers one Messages API request        (harness.llm, a scripted model)
    Tools         runs one tool call, says what it knows   (ToolRegistry, a fault wrapper)
    World         the state a scenario's tools act on      (subclass it: harness.World)
    Human         answers escalations                      (an approver policy)
    Clock         real or virtual time                     (RealClock, VirtualClock)
    Recorder      the append-only event log                (SQLite, in memory)

The driver accepts any object of these shapes, the way an HTTP client accepts any
transport. Real SDK clients, cassettes, simulators and test fakes all stand behind
the same shapes, so a chaos wrapper can sit around any of them. ``World`` alone is a
base class rather than a protocol: what makes a world safe under crashes and retries
(its idempotency ledger) is code every world shares, not a shape.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from harness._world import World
from harness.core._llm_types import ModelRequest, ModelResponse

if TYPE_CHECKING:
    from harness.core import HumanRequest, RunTool
    from harness.driver import HumanDecision
    from harness.store import Record
    from harness.tools import Tool

__all__ = ["Clock", "Human", "ModelClient", "Recorder", "ToolCall", "Tools", "World"]


@runtime_checkable
class ModelClient(Protocol):
    """Answers one Messages API request.

    Raises ``harness.errors.ModelError`` (with ``kind`` from ``MODEL_ERROR_KINDS``) on
    failure; never retries on its own: the runtime owns retries and counts them.
    Simulated latency is spent with ``clock.sleep`` so virtual time advances.
    """

    async def complete(
        self, request: ModelRequest, *, timeout_s: float | None = None
    ) -> ModelResponse: ...


@runtime_checkable
class Clock(Protocol):
    """Real or virtual time. Nothing in the runtime reads time any other way."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class ToolCall(Protocol):
    name: str
    input: dict[str, Any]
    idempotency_key: str | None


class Tools(Protocol):
    """Runs the agent's tool calls: a ``ToolRegistry``, or a fault wrapper around one.

    ``run`` never raises for a world fault: it answers ``(output, is_error, error_kind)``,
    so the model reads the error and the run goes on."""

    def __contains__(self, name: str) -> bool: ...

    def get(self, name: str) -> Tool: ...

    async def run(self, effect: RunTool, *, run_id: str, clock: Clock
                  ) -> tuple[Any, bool, str | None]: ...


class Human(Protocol):
    """Whoever answers escalations. Spends its thinking time with ``clock.sleep``."""

    async def decide(self, request: HumanRequest, clock: Clock) -> HumanDecision: ...


class Recorder(Protocol):
    """Storage for event logs: append-only, one row per record, read back in order."""

    def open_run(self, run_id: str, meta: dict[str, Any] | None = None) -> None:
        """Create the run if new (idempotent), so a resume can reopen it."""

    def append(self, run_id: str, seq: int, kind: str, payload: str) -> None:
        """Add one record. ``seq`` must be the next number: a gap or a repeat is refused."""

    def flush(self, run_id: str | None = None) -> None:
        """Make what was appended so far durable (one commit): every run's, or only
        ``run_id``'s. A run flushes its own records alone, so what a crash of that run
        loses never depends on when the runs sharing the recorder happened to commit."""

    def discard(self, run_id: str) -> None:
        """Drop one run's unflushed records, as if that run's process had died."""

    def abandon(self) -> None:
        """Drop what was appended but not flushed, as a killed process would, and close."""

    def read_run(self, run_id: str) -> list[Record]: ...

    def run_ids(self) -> list[str]: ...

    def close(self) -> None: ...
